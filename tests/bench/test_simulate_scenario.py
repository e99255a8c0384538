"""Scenario files: shipped ones load; malformed or unknown keys are errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from distillguard.bench.simulate import ScenarioError, load_scenario, scenario_names

_BASE = """
[scenario]
name = "t"
start = "2026-03-02T00:00:00Z"

[[population]]
kind = "chat"
accounts = 10
daily_events = 5
"""

_CAMPAIGN = """
[[campaign]]
target = "coding"
accounts = 5
daily_events = 100
pools = ["humaneval"]
styles = ["plain"]
strategies = ["naive"]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["small", "default", "large"])
def test_shipped_scenarios_load(name: str) -> None:
    sc = load_scenario(name)
    assert sc.name == name and sc.version >= 1
    assert sc.campaigns and sc.populations
    kinds = {p.kind for p in sc.populations}
    assert {"chat", "enterprise_batch", "eval_runner", "shared_nat", "router"} <= kinds
    assert all(5 <= c.accounts <= 5000 for c in sc.campaigns)
    assert name in scenario_names()


def test_default_is_a_realistic_mix() -> None:
    sc = load_scenario("default")
    assert 8 <= len(sc.campaigns) <= 12
    sizes = sorted(c.accounts for c in sc.campaigns)
    assert sizes[0] <= 10 and sizes[-1] >= 1000
    used = {s for c in sc.campaigns for s in c.strategies}
    assert {"naive", "low_and_slow", "cover_traffic", "template_mutation", "hydra",
            "model_pivot", "reseller", "new_accounts_full_throughput"} <= used  # fmt: skip


def test_loads_a_path(tmp_path: Path) -> None:
    sc = load_scenario(_write(tmp_path, _BASE + _CAMPAIGN))
    assert sc.name == "t" and sc.hours == 24.0 and len(sc.campaigns) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_BASE + "colour = 1\n", "unknown key"),
        (_BASE.replace('kind = "chat"', 'kind = "chatt"'), "not one of"),
        (_BASE + _CAMPAIGN.replace('"naive"', '"sneaky"'), "unknown value"),
        (_BASE + _CAMPAIGN.replace("accounts = 5", "accounts = 1"), "outside"),
        (_BASE + _CAMPAIGN.replace("accounts = 5", 'accounts = "5"'), "integer"),
        (_BASE + _CAMPAIGN + "typo_key = 3\n", "unknown key"),
        (_BASE + _CAMPAIGN.replace('"naive"', '"hydra"'), "replacement_every_hours"),
        (_BASE + _CAMPAIGN.replace('"naive"', '"model_pivot"'), "release"),
        (_BASE + _CAMPAIGN.replace('"naive"', '"reseller"'), "router"),
        (_BASE.replace("2026-03-02T00:00:00Z", "yesterday"), "ISO"),
        (_BASE + "[[population]]\nkind = 'router'\naccounts = 1\ndaily_events = 3\n", "endusers"),
        ("[scenario\nname=", "s.toml"),
        ("", "missing"),
    ],
)
def test_malformed_scenarios_are_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        load_scenario(_write(tmp_path, text))


def test_unknown_name_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="unknown scenario"):
        load_scenario("nope")
    with pytest.raises(FileNotFoundError):
        load_scenario(tmp_path / "absent.toml")


def test_scale_shrinks_but_keeps_campaigns_coordinated() -> None:
    sc = load_scenario("small").scaled(0.01)
    assert all(c.accounts >= 5 for c in sc.campaigns)
    assert all(p.accounts >= 1 for p in sc.populations)
    with pytest.raises(ScenarioError):
        load_scenario("small").scaled(0)
