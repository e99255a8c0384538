"""DistillBench simulator: determinism, ordering, labels, mechanics of each strategy."""

from __future__ import annotations

import json
import re
from pathlib import Path

import orjson
import polars as pl
import pyarrow.parquet as pq
import pytest

from distillguard import schema as S
from distillguard.bench.simulate import (
    PromptLibrary,
    SimulationSummary,
    load_scenario,
    simulate,
)
from distillguard.bench.simulate.library import standin_library

SCALE = 0.08


@pytest.fixture(scope="module")
def lib() -> PromptLibrary:
    return standin_library()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, lib: PromptLibrary) -> SimulationSummary:
    out = tmp_path_factory.mktemp("small")
    return simulate("small", seed=3, out=out, scale=SCALE, library=lib)


@pytest.fixture(scope="module")
def events(run: SimulationSummary) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in run.paths.events.read_bytes().splitlines()]


@pytest.fixture(scope="module")
def labels(run: SimulationSummary) -> pl.DataFrame:
    return pl.read_parquet(run.paths.event_labels)


def test_same_seed_same_bytes(tmp_path: Path, lib: PromptLibrary) -> None:
    a = simulate("small", seed=11, out=tmp_path / "a", scale=0.03, library=lib)
    b = simulate("small", seed=11, out=tmp_path / "b", scale=0.03, library=lib)
    c = simulate("small", seed=12, out=tmp_path / "c", scale=0.03, library=lib)
    assert a.events == b.events > 100
    for name in ("events.jsonl", "labels/events.parquet", "labels/subjects.parquet",
                 "labels/campaigns.parquet", "scenario.json"):  # fmt: skip
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert a.paths.events.read_bytes() != c.paths.events.read_bytes()


def test_events_sorted_keys_unique_and_labelled(
    run: SimulationSummary, events: list[dict[str, object]], labels: pl.DataFrame
) -> None:
    assert run.events == len(events) == labels.height > 1000
    stamps = [str(e[S.TIMESTAMP]) for e in events]
    assert stamps == sorted(stamps)
    keys = [e[S.REQUEST_ID] for e in events]
    assert len(set(keys)) == len(keys)
    assert labels[S.EVENT_KEY].to_list() == keys
    for e in events:
        for f in S.REQUIRED:
            assert e.get(f), f
        assert set(e) <= set(S.field_names())


def test_ids_are_opaque_hashes(events: list[dict[str, object]]) -> None:
    patterns = {
        S.ACCOUNT: r"acct_[0-9a-f]{16}", S.ORG: r"org_[0-9a-f]{12}",
        S.PAYMENT: r"pm_[0-9a-f]{12}", S.API_KEY: r"key_[0-9a-f]{16}",
        S.REQUEST_ID: r"req_[0-9a-f]{16}",
    }  # fmt: skip
    for e in events[:2000]:
        for f, pat in patterns.items():
            assert re.fullmatch(pat, str(e[f])), (f, e[f])


def test_subject_and_campaign_labels_agree(run: SimulationSummary, labels: pl.DataFrame) -> None:
    subjects = pl.read_parquet(run.paths.subjects)
    campaigns = pl.read_parquet(run.paths.campaigns)
    assert subjects.height == run.subjects
    assert (subjects["is_attack"] == subjects["campaign_id"].is_not_null()).all()
    assert (subjects.filter("is_attack")["strategies"].list.len() > 0).all()
    assert (subjects.filter(~pl.col("is_attack"))["population"] != "attack").all()
    per_campaign = labels.drop_nulls("campaign_id").group_by("campaign_id").len()
    joined = campaigns.join(per_campaign, on="campaign_id")
    assert joined.height == campaigns.height == run.campaigns
    assert (joined["n_events"] == joined["len"]).all()
    assert subjects["n_events"].sum() == run.events
    doc = json.loads(run.paths.scenario.read_text())
    assert doc["releases"][0]["model"] == "frontier-3"
    assert doc["seed"] == 3


def test_reseller_campaign_hides_behind_router(
    events: list[dict[str, object]], labels: pl.DataFrame
) -> None:
    scenario = load_scenario("small")
    reseller = [f"campaign-{i + 1:02d}" for i, c in enumerate(scenario.campaigns)
                if "reseller" in c.strategies]  # fmt: skip
    assert reseller
    rows = [i for i, c in enumerate(labels["campaign_id"].to_list()) if c in reseller]
    assert rows
    for i in rows:
        assert events[i].get(S.ROUTER) and events[i].get(S.ENDUSER)
    # The router also carries benign end users.
    router_acct = {events[i][S.ACCOUNT] for i in rows}
    benign_same = [e for e, c in zip(events, labels["campaign_id"].to_list(), strict=True)
                   if c is None and e[S.ACCOUNT] in router_acct]  # fmt: skip
    assert benign_same


def test_hydra_replaces_accounts(labels: pl.DataFrame) -> None:
    scenario = load_scenario("small")
    ci = next(i for i, c in enumerate(scenario.campaigns) if "hydra" in c.strategies)
    c = scenario.campaigns[ci]
    start = scenario.start.timestamp()
    df = labels.filter(pl.col("campaign_id") == f"campaign-{ci + 1:02d}").with_row_index()
    assert df.height > 0
    # Compare first/last event hours per account through the label order (time order).
    spans = df.group_by(S.ACCOUNT).agg(pl.col("index").min().alias("a"), pl.col("index").max())
    assert spans.height >= 3
    late_starters = spans.filter(pl.col("a") > df.height * 0.2).height
    early_stoppers = spans.filter(pl.col("index") < df.height * 0.8).height
    assert late_starters >= 1 and early_stoppers >= 1
    assert c.replacement_every_hours > 0 and start > 0


def test_capability_sweep_asks_each_item_once(
    events: list[dict[str, object]], labels: pl.DataFrame
) -> None:
    scenario = load_scenario("small")
    ci = next(i for i, c in enumerate(scenario.campaigns) if "capability_sweep" in c.strategies
              and "plain" in c.styles)  # fmt: skip
    cid = f"campaign-{ci + 1:02d}"
    rows = zip(events, labels["campaign_id"], labels["style"], strict=True)
    plain = [e[S.PROMPT] for e, c, st in rows if c == cid and st == "plain"]
    assert len(plain) > 5
    assert len(set(plain)) == len(plain)


def test_model_pivot_moves_about_half_the_traffic(
    run: SimulationSummary, events: list[dict[str, object]], labels: pl.DataFrame
) -> None:
    doc = json.loads(run.paths.scenario.read_text())
    camp = next(c for c in doc["campaigns"] if "model_pivot" in c["strategies"])
    release = doc["releases"][0]
    rows = [e for e, c in zip(events, labels["campaign_id"], strict=True)
            if c == camp["campaign_id"]]  # fmt: skip
    before = [e for e in rows if str(e[S.TIMESTAMP]) < release["at"]]
    after = [e for e in rows if str(e[S.TIMESTAMP]) > camp["pivot_at"]]
    assert not any(e[S.MODEL] == release["model"] for e in before)
    share = sum(e[S.MODEL] == release["model"] for e in after) / max(len(after), 1)
    assert len(after) >= 10 and 0.2 < share < 0.8


def test_chat_history_is_real_multi_turn(events: list[dict[str, object]]) -> None:
    multi = [e for e in events if int(str(e.get(S.TURNS, 1))) > 1]
    assert multi
    for e in multi[:200]:
        msgs = json.loads(str(e[S.INPUT_MESSAGES]))
        users = [m for m in msgs if m["role"] == "user"]
        assert len(users) == e[S.TURNS]
        assert users[-1]["content"] == e[S.PROMPT]
        assert e.get(S.CONVERSATION)


def test_parquet_matches_jsonl(tmp_path: Path, lib: PromptLibrary) -> None:
    j = simulate("small", seed=5, out=tmp_path / "j", scale=0.03, library=lib)
    p = simulate("small", seed=5, out=tmp_path / "p", scale=0.03, library=lib, fmt="parquet")
    table = pq.read_table(p.paths.events)
    assert table.schema.equals(S.EVENT_SCHEMA)
    rows = [orjson.loads(x) for x in j.paths.events.read_bytes().splitlines()]
    assert table.num_rows == len(rows) == p.events
    assert table.column(S.REQUEST_ID).to_pylist() == [r[S.REQUEST_ID] for r in rows]
    assert table.column(S.PROMPT).to_pylist() == [r[S.PROMPT] for r in rows]


def test_attack_and_benign_share_metadata_values(
    events: list[dict[str, object]], labels: pl.DataFrame
) -> None:
    attack = labels["campaign_id"].is_not_null().to_list()
    for f in (S.USER_AGENT, S.IP_TYPE, S.MODEL, S.ACCOUNT_TIER):
        a = {e.get(f) for e, x in zip(events, attack, strict=True) if x}
        b = {e.get(f) for e, x in zip(events, attack, strict=True) if not x}
        assert len(a & b) >= 2, f


def test_rejects_bad_format(tmp_path: Path, lib: PromptLibrary) -> None:
    with pytest.raises(ValueError, match="fmt"):
        simulate("small", seed=1, out=tmp_path, fmt="csv", library=lib)  # type: ignore[arg-type]


def test_public_api_is_declared() -> None:
    import distillguard.bench.simulate as sim

    for name in sim.__all__:
        assert hasattr(sim, name), name
    assert {"simulate", "load_scenario", "SimulationSummary"} <= set(sim.__all__)


def test_tiny_custom_scenario_and_missing_pool(tmp_path: Path, lib: PromptLibrary) -> None:
    text = (
        '[scenario]\nname = "tiny"\nstart = "2026-03-07T00:00:00Z"\nhours = 2\n'
        'window_minutes = 7\n[[population]]\nkind = "chat"\naccounts = 1\ndaily_events = 200\n'
        '[[campaign]]\ntarget = "coding"\naccounts = 5\ndaily_events = 2400\n'
        'pools = ["humaneval"]\nstyles = ["plain"]\nstrategies = ["naive"]\n'
    )
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    summary = simulate(path, seed=0, out=tmp_path / "out", library=lib)
    assert summary.campaigns == 1 and summary.events > 50
    rows = [orjson.loads(x) for x in summary.paths.events.read_bytes().splitlines()]
    hours = {str(r[S.TIMESTAMP])[11:13] for r in rows}
    assert hours <= {"00", "01", "02"}
    empty = PromptLibrary.from_texts([("hi",)], {}, [], [])
    with pytest.raises(ValueError, match="humaneval"):
        simulate(path, seed=0, out=tmp_path / "out2", library=empty)


def test_library_normalises_conversation_shapes() -> None:
    from distillguard.bench.simulate.library import _conversation

    assert _conversation(("a", "b")) == ("a", "b")
    sharegpt = [{"from": "human", "value": "q1"}, {"from": "gpt", "value": "a1"},
                {"from": "human", "value": "q2"}]  # fmt: skip
    assert _conversation(sharegpt) == ("q1", "q2")
    assert _conversation([]) == ()
    assert _conversation([{"role": "assistant", "content": "x"}]) == ()
    with pytest.raises(ValueError):
        PromptLibrary.from_texts([], {}, [], [])


def test_rhythms_batch_is_24_7_and_load_balancing_is_even(
    events: list[dict[str, object]], labels: pl.DataFrame
) -> None:
    df = pl.DataFrame(
        {
            "hour": [str(e[S.TIMESTAMP])[11:13] for e in events],
            "account": labels[S.ACCOUNT],
            "population": labels["population"],
            "campaign": labels["campaign_id"],
        }
    )
    batch = df.filter(pl.col("population") == "enterprise_batch")
    assert batch["hour"].n_unique() >= 20
    scenario = load_scenario("small")
    ci = next(i for i, c in enumerate(scenario.campaigns) if c.strategies == ("naive",
              "load_balancing"))  # fmt: skip
    counts = df.filter(pl.col("campaign") == f"campaign-{ci + 1:02d}").group_by("account").len()
    chat = df.filter(pl.col("population") == "chat").group_by("account").len()

    def spread(frame: pl.DataFrame) -> float:
        values = frame["len"].to_numpy().astype(float)
        return float(values.std() / values.mean())

    assert spread(counts) < 0.35 < spread(chat)


def test_benign_cohorts_and_orgs_sign_up_in_bulk(tmp_path: Path, lib: PromptLibrary) -> None:
    # The hard negative for bulk-created rings: research cohorts and provisioned org teams.
    text = (
        '[scenario]\nname = "signups"\nstart = "2026-03-02T00:00:00Z"\nhours = 24\n'
        '[[population]]\nkind = "researcher"\naccounts = 300\ndaily_events = 8\n'
        '[[population]]\nkind = "shared_nat"\naccounts = 300\ndaily_events = 8\n'
        "accounts_per_org = 30\nips = 2\n"
        '[[population]]\nkind = "chat"\naccounts = 300\ndaily_events = 8\n'
    )
    path = tmp_path / "signups.toml"
    path.write_text(text)
    summary = simulate(path, seed=1, out=tmp_path / "out", library=lib)
    rows = [orjson.loads(x) for x in summary.paths.events.read_bytes().splitlines()]
    labels = pl.read_parquet(summary.paths.subjects)
    population = dict(zip(labels["account_id"], labels["population"], strict=True))
    created = pl.DataFrame(
        {
            "account": [r[S.ACCOUNT] for r in rows],
            "created": [r[S.ACCOUNT_CREATED] for r in rows],
        }
    ).unique()
    busiest = (
        created.with_columns(
            pl.col("account").replace_strict(population).alias("population"),
            pl.col("created").str.to_datetime(time_zone="UTC").dt.truncate("1h").alias("hour"),
        )
        .group_by("population", "hour")
        .len()
        .group_by("population")
        .agg(pl.col("len").max())
    )
    most = dict(busiest.iter_rows())
    assert most["researcher"] >= 8 and most["shared_nat"] >= 9
    assert most["chat"] <= 3  # independent sign-ups: no bursts
