"""Bench metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from distillguard.bench import metrics as M

# 4 attacks, 6 benign; predictions: 3 true positives, 1 false negative, 2 false positives
Y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], dtype=bool)
P = np.array([1, 1, 1, 0, 1, 1, 0, 0, 0, 0], dtype=bool)


def test_counts_precision_recall_fpr_by_hand() -> None:
    assert M.counts(Y, P) == M.Counts(tp=3, fp=2, tn=4, fn=1)
    assert M.precision(Y, P) == pytest.approx(3 / 5)
    assert M.recall(Y, P) == pytest.approx(3 / 4)
    assert M.fpr(Y, P) == pytest.approx(2 / 6)


def test_undefined_ratios_are_nan_not_errors() -> None:
    none = np.zeros(4, dtype=bool)
    assert math.isnan(M.precision(none, none))  # nothing predicted
    assert math.isnan(M.recall(none, none))  # no positives
    assert math.isnan(M.fpr(np.ones(3, dtype=bool), np.ones(3, dtype=bool)))
    assert math.isnan(M.auroc(none, np.arange(4)))
    assert math.isnan(M.auprc(none, np.arange(4)))


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError):
        M.counts([1, 0], [1])


def test_auroc_by_hand_with_a_tie() -> None:
    # positives 0.9, 0.5; negatives 0.5, 0.1. Pairs: (0.9>0.5) (0.9>0.1) (0.5=0.5 -> 1/2) (0.5>0.1)
    y = [1, 1, 0, 0]
    s = [0.9, 0.5, 0.5, 0.1]
    assert M.auroc(y, s) == pytest.approx(3.5 / 4)
    assert M.auroc([1, 0], [0.2, 0.8]) == 0.0
    assert M.auroc([1, 0], [0.8, 0.2]) == 1.0


def test_auprc_by_hand() -> None:
    # ranked: 1 (P), 2 (N), 3 (P): AP = 1 * 1/2 + 2/3 * 1/2
    assert M.auprc([1, 0, 1], [0.9, 0.8, 0.7]) == pytest.approx(0.5 + 1 / 3)
    assert M.auprc([1, 1, 0], [0.9, 0.8, 0.1]) == pytest.approx(1.0)


def test_roc_curve_ends_at_corners() -> None:
    fpr, tpr = M.roc_curve([1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1])
    assert (fpr[0], tpr[0]) == (0.0, 0.0)
    assert (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)


@pytest.mark.parametrize("target", [0.0, 0.01, 0.1, 0.25, 0.5])
def test_threshold_at_fpr_respects_target(target: float) -> None:
    rng = np.random.default_rng(3)
    benign = np.round(rng.normal(size=400), 1)  # rounding makes many ties
    t = M.threshold_at_fpr(benign, target)
    assert np.mean(benign >= t) <= target + 1e-12


def test_threshold_at_fpr_edges() -> None:
    assert M.threshold_at_fpr([], 0.1) == math.inf
    assert M.threshold_at_fpr([1.0, 2.0, 3.0, 4.0], 0.25) > 3.0  # only 4.0 may pass
    assert M.threshold_at_fpr([1.0, 2.0, 3.0, 4.0], 0.25) <= 4.0
    with pytest.raises(ValueError):
        M.threshold_at_fpr([1.0], 1.5)


def test_campaign_caught_at_exactly_ninety_percent() -> None:
    assert M.campaign_caught([True] * 9 + [False])  # 9/10 = 90%: caught
    assert not M.campaign_caught([True] * 8 + [False] * 2)
    assert not M.campaign_caught([True] * 89 + [False] * 11)  # 89%
    assert M.campaign_caught([True] * 90 + [False] * 10)
    assert not M.campaign_caught([])


def test_bootstrap_contains_point_and_narrows_with_n() -> None:
    rng = np.random.default_rng(0)

    def width(n: int) -> M.Estimate:
        x = rng.random(n) < 0.3
        return M.bootstrap(lambda i: float(x[i].mean()), n, reps=400, seed=1)

    small, large = width(50), width(5000)
    for e in (small, large):
        assert e.lo <= e.value <= e.hi
    assert (large.hi - large.lo) < (small.hi - small.lo) / 3


def test_bootstrap_groups_resample_whole_groups() -> None:
    # two groups with constant values: any group resample gives a mean of 0, 1 or a mix
    values = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    groups = np.array([0, 0, 0, 1, 1, 1])
    seen: set[float] = set()

    def stat(i: np.ndarray) -> float:
        seen.add(float(values[i].mean()))
        return float(values[i].mean())

    est = M.bootstrap(stat, 6, groups=groups, reps=200, seed=0)
    assert est.value == 0.5
    assert seen <= {0.0, 0.5, 1.0}
    with pytest.raises(ValueError):
        M.bootstrap(stat, 6, groups=[0, 1], reps=10)


def test_bootstrap_empty_and_undefined() -> None:
    e = M.bootstrap(lambda i: 1.0, 0)
    assert math.isnan(e.value) and e.n == 0
    e = M.bootstrap(lambda i: float("nan"), 5, reps=20)
    assert math.isnan(e.lo) and math.isnan(e.hi)
