"""Slow: the real simulator and distillguard itself through the harness."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distillguard.bench import harness
from distillguard.bench.detector import DetectorUnavailable, check_scores, make_detector

pytestmark = pytest.mark.slow


def test_distillguard_detector_meets_the_detector_contract() -> None:
    from test_baselines import toy_traffic

    try:
        det = make_detector("distillguard", target_fpr=0.05)
    except DetectorUnavailable as exc:
        pytest.skip(str(exc))
    events, labels = toy_traffic(1)
    det.fit(events, labels)
    other, other_labels = toy_traffic(2)
    scores = check_scores(det.score(other), "distillguard")
    assert scores.height == other_labels.subjects.height


def test_run_bench_on_a_tiny_real_scenario(tmp_path: Path) -> None:
    result = harness.run_bench(
        "small", calibration_seed=1, eval_seeds=[2], out=tmp_path, scale=0.05, bootstrap_reps=50
    )
    names = {d.name for d in result.detectors} | set(result.skipped)
    assert names == {"distillguard", "rate", "iforest", "prada", "seat"}
    for d in result.detectors:
        assert d.subjects > 0 and d.attack_subjects > 0
        assert d.campaigns  # every scenario campaign is reported, caught or not
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["calibration_seed"] == 1
    assert (tmp_path / "report.html").stat().st_size > 10_000
