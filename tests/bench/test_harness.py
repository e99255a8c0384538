"""Harness: replay harvest on a tiny stream with a stub detector, and a full toy run."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from distillguard import schema as S
from distillguard.bench import detector as detector_module
from distillguard.bench import harness
from distillguard.bench.detector import SubjectLabels
from distillguard.bench.replay import (
    cutoffs,
    harvest,
    harvest_curve,
    replacements,
    replay,
    replay_closed_loop,
)

START = datetime(2026, 3, 1, tzinfo=UTC)


class CountingStub:
    """Flags a bot at >= 2 of its events seen, blocks it at >= 4; never touches 'slow'."""

    name = "stub"

    def __init__(self, *, target_fpr: float = 0.01) -> None:
        self.fitted_on: list[str] = []

    def fit(self, events: pl.DataFrame, labels: SubjectLabels) -> None:
        self.fitted_on = sorted(set(events[S.ACCOUNT].to_list()))

    def score(self, events: pl.DataFrame) -> pl.DataFrame:
        counts = events.group_by(S.ACCOUNT, S.ENDUSER).len()
        return counts.select(
            S.ACCOUNT,
            S.ENDUSER,
            pl.col("len").cast(pl.Float64).alias("risk"),
            pl.when(pl.col(S.ACCOUNT).str.starts_with("slow"))
            .then(pl.lit("allow"))
            .when(pl.col("len") >= 4)
            .then(pl.lit("block"))
            .when(pl.col("len") >= 2)
            .then(pl.lit("review"))
            .otherwise(pl.lit("allow"))
            .alias("action"),
        )


def _stream() -> tuple[pl.DataFrame, SubjectLabels]:
    rows = []
    for i in range(10):  # bot: one event per hour, output tokens 1..10
        rows.append((START + timedelta(hours=i), "bot", None, f"q{i}", i + 1))
        rows.append((START + timedelta(hours=i, minutes=30), "slow", None, f"s{i}", 5))
    rows.append((START + timedelta(hours=3), "human", None, "hello", 7))
    events = pl.DataFrame(
        rows,
        schema=S.frame_schema(S.TIMESTAMP, S.ACCOUNT, S.ENDUSER, S.PROMPT, S.OUTPUT_TOKENS),
        orient="row",
    ).sort(S.TIMESTAMP)
    labels = SubjectLabels.from_frame(
        pl.DataFrame(
            {
                "account_id": ["bot", "slow", "human"],
                "enduser_id": [None, None, None],
                "population": ["attack", "attack", "chat"],
                "is_attack": [True, True, False],
                "campaign_id": ["c-fast", "c-slow", None],
            }
        )
    )
    return events, labels


def test_cutoffs_cover_the_stream() -> None:
    cuts = cutoffs(START, START + timedelta(hours=2), timedelta(hours=1))
    assert cuts == [START + timedelta(hours=k) for k in (1, 2, 3)]
    with pytest.raises(ValueError):
        cutoffs(START, START, timedelta(0))


def test_replay_finds_known_containment_time() -> None:
    events, _ = _stream()
    out = replay(CountingStub(), events, step=timedelta(hours=1))
    bot = out.filter(pl.col(S.ACCOUNT) == "bot").row(0, named=True)
    # events at 0h,1h,2h,3h are in the prefix before the 4h cutoff: blocked at 4h
    assert bot["contained_at"] == START + timedelta(hours=4)
    assert bot["flagged_at"] == START + timedelta(hours=2)
    slow = out.filter(pl.col(S.ACCOUNT) == "slow").row(0, named=True)
    assert slow["contained_at"] is None and slow["flagged_at"] is None


def test_harvest_share_is_known() -> None:
    events, labels = _stream()
    replayed = replay(CountingStub(), events, step=timedelta(hours=1))
    table = {r["campaign_id"]: r for r in harvest(events, replayed, labels).to_dicts()}
    fast = table["c-fast"]
    assert fast["events"] == 10
    assert fast["share_events_before_containment"] == pytest.approx(0.4)  # 4 of 10 served
    assert fast["share_tokens_before_containment"] == pytest.approx(10 / 55)  # 1+2+3+4 of 55
    assert fast["share_events_before_flag"] == pytest.approx(0.2)
    assert table["c-slow"]["share_events_before_containment"] == 1.0  # never contained
    assert "human" not in str(table)  # benign traffic is not harvest


def test_closed_loop_hydra_replaces_each_contained_account() -> None:
    events, labels = _stream()
    events = events.with_columns(
        pl.lit(START).cast(pl.Datetime("us", "UTC")).alias(S.ACCOUNT_CREATED)
    )
    hydra = SubjectLabels.from_frame(
        labels.subjects.with_columns(
            pl.when(pl.col(S.ACCOUNT) == "bot")
            .then(pl.lit(["hydra"]))
            .otherwise(pl.lit(["naive"]))
            .alias("strategies")
        )
    )
    loop = replay_closed_loop(CountingStub(), events, hydra, step=timedelta(hours=1))
    # bot blocked at 4h (4 events); bot~1 takes h4..h9, blocked at 8h; bot~2 takes h8, h9.
    assert loop.replaced == 2
    served = loop.events.group_by(S.ACCOUNT).agg(pl.len(), pl.col(S.ACCOUNT_CREATED).min())
    rows = {r[S.ACCOUNT]: r for r in served.to_dicts()}
    assert {a: r["len"] for a, r in rows.items() if a.startswith("bot")} == {
        "bot": 4,
        "bot~1": 4,
        "bot~2": 2,
    }
    assert rows["bot~1"][S.ACCOUNT_CREATED] == START + timedelta(hours=4)
    assert rows["slow"]["len"] == 10  # not a hydra: its queue stays with it
    heirs = loop.labels.subjects.filter(pl.col(S.ACCOUNT).str.starts_with("bot~"))
    assert heirs["campaign_id"].to_list() == ["c-fast", "c-fast"]
    assert heirs["is_attack"].all()
    # Harvest is over the campaign's own accounts: bot served 4 of 10 before containment.
    table = {r["campaign_id"]: r for r in harvest(events, loop.times, hydra).to_dicts()}
    assert table["c-fast"]["share_events_before_containment"] == pytest.approx(0.4)
    # The loop's figure is the cost: 2 accounts burned, serving 4 and 2 requests.
    burned = replacements(loop).to_dicts()
    assert burned == [
        {"campaign_id": "c-fast", "replacements": 2, "replacement_median_served": 3.0}
    ]
    assert replacements(replay_closed_loop(CountingStub(), events, labels)).height == 0


def test_closed_loop_without_hydra_equals_open_loop() -> None:
    events, labels = _stream()
    loop = replay_closed_loop(CountingStub(), events, labels, step=timedelta(hours=1))
    assert loop.replaced == 0
    assert loop.events.equals(events.sort(S.TIMESTAMP, maintain_order=True))
    open_loop = replay(CountingStub(), events, step=timedelta(hours=1))
    assert loop.times.sort(S.ACCOUNT).equals(open_loop.sort(S.ACCOUNT))


def test_harvest_curve_is_cumulative_and_bounded() -> None:
    events, labels = _stream()
    replayed = replay(CountingStub(), events, step=timedelta(hours=1))
    curve = harvest_curve(events, replayed, labels)
    shares = curve["share_served"].to_list()
    assert shares == sorted(shares)
    assert shares[-1] == pytest.approx((4 + 10) / 20)
    assert (curve["share_before_flag"] <= curve["share_served"]).all()


def test_replay_of_empty_stream() -> None:
    events, labels = _stream()
    out = replay(CountingStub(), events.head(0))
    assert out.height == 0
    assert harvest(events.head(0), out, labels).height == 0


@pytest.fixture()
def toy_bench(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Stand-in simulator (toy traffic in the bench-label layout) and a stub detector."""
    from test_baselines import toy_traffic

    calls: list[int] = []

    def fake_simulate(scenario: str, *, seed: int, out: Path, fmt: str, scale: float) -> None:
        calls.append(seed)
        events, labels = toy_traffic(seed, benign=25, attackers=4, hours=12, per_attacker=240)
        (out / "labels").mkdir(parents=True, exist_ok=True)
        events.write_parquet(out / "events.parquet")
        labels.subjects.rename({S.ACCOUNT: "account_id", S.ENDUSER: "enduser_id"}).write_parquet(
            out / "labels" / "subjects.parquet"
        )
        pl.DataFrame({"campaign_id": ["camp-1"], "strategies": [["naive"]]}).write_parquet(
            out / "labels" / "campaigns.parquet"
        )

    import distillguard.bench.simulate as sim

    monkeypatch.setattr(sim, "simulate", fake_simulate)
    stubs: list[CountingStub] = []

    def make_stub(*, target_fpr: float) -> CountingStub:
        stubs.append(CountingStub(target_fpr=target_fpr))
        return stubs[-1]

    monkeypatch.setitem(detector_module.DETECTORS, "stub", make_stub)
    return {"calls": calls, "stubs": stubs}


def test_run_bench_end_to_end_on_toy_traffic(tmp_path: Path, toy_bench: dict[str, Any]) -> None:
    out = tmp_path / "bench"
    result = harness.run_bench(
        "toy",
        calibration_seed=1,
        eval_seeds=[2, 3],
        out=out,
        detectors=["rate", "stub"],
        target_fpr=0.05,
        bootstrap_reps=50,
    )
    assert sorted(toy_bench["calls"]) == [1, 2, 3]
    # the stub was fitted on the calibration seed only
    assert all(a.startswith("s1-") for a in toy_bench["stubs"][0].fitted_on)
    names = [d.name for d in result.detectors]
    assert names == ["rate", "stub"]
    rate = result.detectors[0]
    assert rate.recall.value == 1.0
    assert rate.subjects == 2 * (25 + 4)
    assert rate.precision.lo <= rate.precision.value <= rate.precision.hi
    assert {c.campaign_id for c in rate.campaigns} == {"s2:camp-1", "s3:camp-1"}
    stub = result.detectors[1]
    assert stub.harvest_median_events < 1.0  # the stub blocks: harvest stops early
    data = json.loads((out / "results.json").read_text())
    assert data["eval_seeds"] == [2, 3] and len(data["detectors"]) == 2
    md = (out / "report.md").read_text()
    assert "## Results" in md and "## Misses" in md and "| rate |" in md
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3
    assert "DistillBench" in result.summary_text()

    # cached traffic is reused: no new simulation
    harness.run_bench(
        "toy",
        calibration_seed=1,
        eval_seeds=[2],
        out=out,
        detectors=["rate"],
        replay_step=None,
        bootstrap_reps=20,
    )
    assert sorted(toy_bench["calls"]) == [1, 2, 3]


def test_run_bench_refuses_reporting_on_the_calibration_seed(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="calibration seed"):
        harness.run_bench("toy", calibration_seed=1, eval_seeds=[1, 2], out=tmp_path)
    with pytest.raises(ValueError, match="unknown detector"):
        harness.run_bench(
            "toy", calibration_seed=1, eval_seeds=[2], out=tmp_path, detectors=["nope"]
        )
    with pytest.raises(ValueError):
        harness.run_bench("toy", calibration_seed=1, eval_seeds=[], out=tmp_path)


def test_cached_traffic_is_reused_only_when_it_matches(
    tmp_path: Path, toy_bench: dict[str, Any]
) -> None:
    first = harness.load_traffic("toy", seed=4, work_dir=tmp_path)
    harness.load_traffic("toy", seed=4, work_dir=tmp_path)
    assert toy_bench["calls"] == [4]  # reused
    (first.path / "scenario.json").write_text(json.dumps({"seed": 5, "scale": 1.0}))
    again = harness.load_traffic("toy", seed=4, work_dir=tmp_path)
    assert toy_bench["calls"] == [4, 4]  # stale metadata: simulated again
    assert again.events.equals(first.events)  # same seed, same traffic


def test_peak_rss_belongs_to_the_measured_step() -> None:
    import numpy as np

    rss = harness._PeakRss()
    rss.start()
    if not rss.ok:
        pytest.skip("this OS does not let a process reset its RSS high-water mark")
    before = rss.peak_mib()
    block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
    during = rss.peak_mib()
    del block
    assert during >= before + 48
    rss.start()  # reset: the freed block no longer counts
    assert rss.peak_mib() < during - 32


def test_cost_reports_peak_rss_without_tracing(tmp_path: Path, toy_bench: dict[str, Any]) -> None:
    result = harness.run_bench(
        "toy",
        calibration_seed=1,
        eval_seeds=[2],
        out=tmp_path,
        detectors=["rate"],
        replay_step=None,
        bootstrap_reps=20,
        trace_memory=False,
    )
    cost = result.detectors[0].cost
    assert math.isnan(cost.fit_peak_traced_mib)
    if harness._PeakRss._CLEAR.exists():
        assert cost.fit_peak_rss_mib > 0 and cost.score_peak_rss_mib > 0
        # the whole-run maximum survives the per-step resets
        assert cost.process_max_rss_mib >= max(cost.fit_peak_rss_mib, cost.score_peak_rss_mib)
    md = (tmp_path / "report.md").read_text()
    assert "fit peak RSS MiB" in md and "n/a" in md
