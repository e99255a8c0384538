"""Result records: metrics from a hand-made scored frame, misses named honestly."""

from __future__ import annotations

import json
import math

import polars as pl
import pytest

from distillguard import schema as S
from distillguard.bench.report import make_plots, render_html, render_markdown
from distillguard.bench.results import BenchResult, Cost, evaluate

COST = Cost(
    events_per_second=1000.0, fit_seconds=1.0, fit_peak_traced_mib=2.0, process_max_rss_mib=100.0
)


def _scored() -> pl.DataFrame:
    # campaign A: 10 accounts, 9 flagged (caught at exactly 90%); campaign B: 2 of 4 flagged
    rows = []
    for i in range(10):
        rows.append((f"a{i}", "attack", True, "s2:A", 0.9, "block" if i < 9 else "allow"))
    for i in range(4):
        rows.append((f"b{i}", "attack", True, "s2:B", 0.8, "review" if i < 2 else "monitor"))
    for i in range(20):  # benign chat: none flagged
        rows.append((f"c{i}", "chat", False, None, 0.1, "allow"))
    for i in range(5):  # benign eval runners: 2 of 5 flagged
        rows.append((f"e{i}", "eval_runner", False, None, 0.85, "review" if i < 2 else "allow"))
    frame = pl.DataFrame(
        rows,
        schema={
            S.ACCOUNT: pl.Utf8,
            "population": pl.Utf8,
            "is_attack": pl.Boolean,
            "campaign_id": pl.Utf8,
            "risk": pl.Float64,
            "action": pl.Utf8,
        },
        orient="row",
    )
    strategies = (
        pl.when(pl.col("campaign_id") == "s2:A")
        .then(pl.lit(["naive"]))
        .when(pl.col("campaign_id") == "s2:B")
        .then(pl.lit(["hydra", "naive"]))
        .otherwise(None)
    )
    return frame.with_columns(
        pl.lit(None, dtype=pl.Utf8).alias(S.ENDUSER),
        pl.lit(2, dtype=pl.Int64).alias("seed"),
        strategies.alias("strategies"),
    )


def test_evaluate_by_hand() -> None:
    harvest = pl.DataFrame(
        {
            "campaign_id": ["s2:A", "s2:B"],
            "share_events_before_containment": [0.2, 1.0],
            "share_tokens_before_containment": [0.25, 1.0],
            "share_events_before_flag": [0.1, 0.5],
        }
    )
    r = evaluate("x", _scored(), cost=COST, harvest=harvest, target_fpr=0.05, reps=100)
    assert r.subjects == 39 and r.attack_subjects == 14
    assert r.recall.value == pytest.approx(11 / 14)
    assert r.precision.value == pytest.approx(11 / 13)
    assert r.fpr.value == pytest.approx(2 / 25)
    assert r.fpr_by_population["chat"].value == 0.0
    assert r.fpr_by_population["eval_runner"].value == pytest.approx(0.4)
    assert r.recall_by_strategy["hydra"].value == pytest.approx(0.5)
    assert r.recall_by_strategy["naive"].value == pytest.approx(11 / 14)
    caught = {c.campaign_id: c.caught for c in r.campaigns}
    assert caught == {"s2:A": True, "s2:B": False}
    assert r.campaign_recall.value == 0.5
    assert r.harvest_median_events == pytest.approx(0.6)
    text = "\n".join(r.misses)
    assert "s2:B" in text and "s2:A" not in text
    assert "eval_runner" in text and "chat" not in text
    assert "hydra" not in text  # recall 0.5 is not below 0.5


def test_benign_flagged_mid_day_counts_in_replay_fpr() -> None:
    from datetime import UTC, datetime

    from distillguard.bench.harness import _with_replay_flags

    scored = _scored()
    noon = datetime(2026, 3, 1, 12, tzinfo=UTC)
    times = pl.DataFrame(
        {
            S.ACCOUNT: ["c0", "c1", "a9"],  # two chat users flagged at noon, cleared by night
            S.ENDUSER: [None, None, None],
            "flagged_at": [noon, noon, noon],
            "contained_at": [None, None, None],
        },
        schema_overrides={"contained_at": pl.Datetime("us", "UTC"), S.ENDUSER: pl.Utf8},
    )
    replayed = _with_replay_flags(scored, times)
    assert replayed.height == scored.height
    flagged = set(replayed.filter("flagged_in_replay")[S.ACCOUNT].to_list())
    assert {"c0", "c1", "e0", "e1", "a0", "a9"} <= flagged and "c2" not in flagged
    r = evaluate("x", replayed, cost=COST, target_fpr=0.01, reps=50)
    assert r.fpr.value == pytest.approx(2 / 25)  # the end-of-day figure is unchanged
    assert r.fpr_replay is not None and r.fpr_replay.value == pytest.approx(4 / 25)
    assert r.fpr_replay_by_population["chat"].value == pytest.approx(2 / 20)
    assert any("chat" in m and "replay cutoff" in m for m in r.misses)
    assert "FPR at any replay cutoff" in render_markdown(
        BenchResult(
            scenario="toy",
            calibration_seed=1,
            eval_seeds=(2,),
            target_fpr=0.05,
            detectors=(r,),
        )
    )
    assert evaluate("x", scored, cost=COST, target_fpr=0.05, reps=10).fpr_replay is None


def test_closed_loop_cost_is_reported_per_campaign() -> None:
    harvest = pl.DataFrame(
        {
            "campaign_id": ["s2:A", "s2:B"],
            "share_events_before_containment": [0.2, 1.0],
            "share_tokens_before_containment": [0.2, 1.0],
            "share_events_before_flag": [0.1, 1.0],
            "replacements": [3, None],
            "replacement_median_served": [41.0, None],
        }
    )
    r = evaluate("x", _scored(), cost=COST, harvest=harvest, target_fpr=0.05, reps=10)
    by = {c.campaign_id: c for c in r.campaigns}
    assert by["s2:A"].replacements == 3 and by["s2:B"].replacements == 0
    text = render_markdown(
        BenchResult(scenario="toy", calibration_seed=1, eval_seeds=(2,), target_fpr=0.05,
                    detectors=(r,))
    )  # fmt: skip
    assert "forced 3 replacement accounts, each served 41 requests" in text


def test_report_renders_and_escapes(tmp_path: object) -> None:
    scored = _scored().with_columns(
        pl.when(pl.col("population") == "chat")
        .then(pl.lit("<script>x</script>"))
        .otherwise(pl.col("population"))
        .alias("population")
    )
    r = evaluate("<b>det</b>", scored, cost=COST, target_fpr=0.05, reps=20)
    result = BenchResult("small", 1, (2,), 0.05, (r,), skipped={"distillguard": "missing"})
    plots = make_plots(result, {r.name: scored}, {})
    html = render_html(result, plots)
    assert "<script>" not in html and "<b>det</b>" not in html
    assert "&lt;script&gt;" in html
    md = render_markdown(result, plots)
    assert "distillguard skipped" in md and "## Misses" in md
    data = result.as_dict()
    json.dumps(data, allow_nan=False)  # NaN never reaches results.json
    assert math.isnan(r.harvest_median_events)  # no replay: undefined, reported as n/a
    assert "n/a" in result.summary_text()
