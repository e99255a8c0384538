"""Calibration: thresholds from a target FPR on benign scores, never hand-set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from distillguard.decisions import Calibration, ConfigError, fit_thresholds
from distillguard.records import Action


def test_threshold_hits_the_target_fpr_on_synthetic_scores() -> None:
    rng = np.random.default_rng(0)
    benign = rng.beta(2, 8, size=200_000)
    cal = fit_thresholds(benign, targets={"monitor": 0.01, "review": 0.0005})
    for action, target in (("monitor", 0.01), ("review", 0.0005)):
        achieved = float((benign >= cal.thresholds[action]).mean())
        assert achieved <= target
        assert achieved >= target * 0.9  # the lowest threshold that meets it, not a far one
        assert cal.achieved_fpr[action] == pytest.approx(achieved)


def test_every_population_stays_under_its_own_target() -> None:
    rng = np.random.default_rng(1)
    common = rng.uniform(0.0, 0.5, size=10_000)
    hard = rng.uniform(0.4, 0.9, size=200)  # a hard-negative population sits high
    scores = np.concatenate([common, hard])
    pops = ["chat"] * common.size + ["eval_runner"] * hard.size
    cal = fit_thresholds(scores, pops, targets={"review": 0.01}, population_target=0.01)
    assert float((hard >= cal.thresholds["review"]).mean()) <= 0.01
    assert cal.population_fpr["eval_runner"] <= 0.01


def test_unmeasurable_targets_sit_above_every_benign_score_and_stay_graduated() -> None:
    benign = np.linspace(0.0, 0.3, 100)
    cal = fit_thresholds(benign)  # default targets are finer than 1/100
    ladder = [cal.thresholds[a.value] for a in Action if a is not Action.ALLOW]
    assert cal.thresholds["review"] > 0.3
    assert ladder[1:] == sorted(ladder[1:]) and len(set(ladder[1:])) == len(ladder[1:])
    assert cal.action_for(0.1) is Action.ALLOW or cal.action_for(0.1) is Action.MONITOR
    assert cal.action_for(1.0) is Action.BLOCK


def test_calibration_round_trips_as_json(tmp_path: Path) -> None:
    cal = fit_thresholds(np.linspace(0, 1, 5000), source="seed 1")
    path = tmp_path / "cal.json"
    cal.save(path)
    assert Calibration.load(path) == cal


def test_bad_calibration_files_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "cal.json"
    good = fit_thresholds(np.linspace(0, 1, 100)).to_dict()
    for bad in (
        {**good, "surprise": 1},
        {**good, "version": 99},
        {**good, "thresholds": {"nuke": 0.5}},
        {**good, "thresholds": {"review": 2.0}},
    ):
        path.write_text(json.dumps(bad))
        with pytest.raises(ConfigError):
            Calibration.load(path)
    path.write_text("{not json")
    with pytest.raises(ConfigError):
        Calibration.load(path)


def test_non_finite_scores_are_rejected() -> None:
    with pytest.raises(ValueError):
        fit_thresholds([0.1, float("nan")])
