"""Bench metrics: pure functions of label and score arrays, with bootstrap intervals.

Everything here is plain numpy on arrays the harness prepares; nothing reads
files or knows about detectors. Degenerate inputs (no positives, no negatives,
empty) give ``nan`` rather than an exception: a bench row with an undefined
metric is still a row worth reporting.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "CAMPAIGN_CAUGHT_SHARE",
    "Counts",
    "Estimate",
    "auprc",
    "auroc",
    "bootstrap",
    "campaign_caught",
    "counts",
    "fpr",
    "precision",
    "recall",
    "roc_curve",
    "threshold_at_fpr",
]

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]

# A campaign counts as caught when at least 90% of its accounts reach review or above:
# a hydra operator replaces banned accounts, so catching a few members leaves the
# harvest running (THREAT.md: "When one account is banned, a new one takes its place").
CAMPAIGN_CAUGHT_SHARE = 0.9


@dataclass(frozen=True)
class Counts:
    """Confusion counts at one decision threshold."""

    tp: int
    fp: int
    tn: int
    fn: int


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a (1 - alpha) bootstrap percentile interval."""

    value: float
    lo: float
    hi: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return {"value": self.value, "lo": self.lo, "hi": self.hi, "n": self.n}

    def text(self, digits: int = 3) -> str:
        if math.isnan(self.value):
            return "n/a"
        return f"{self.value:.{digits}f} [{self.lo:.{digits}f}, {self.hi:.{digits}f}]"


def counts(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> Counts:
    t = np.asarray(y_true, dtype=bool)
    p = np.asarray(y_pred, dtype=bool)
    if t.shape != p.shape:
        raise ValueError(f"labels and predictions differ in shape: {t.shape} vs {p.shape}")
    return Counts(
        tp=int(np.sum(t & p)),
        fp=int(np.sum(~t & p)),
        tn=int(np.sum(~t & ~p)),
        fn=int(np.sum(t & ~p)),
    )


def _ratio(num: int, den: int) -> float:
    return num / den if den else float("nan")


def precision(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    c = counts(y_true, y_pred)
    return _ratio(c.tp, c.tp + c.fp)


def recall(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    c = counts(y_true, y_pred)
    return _ratio(c.tp, c.tp + c.fn)


def fpr(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    c = counts(y_true, y_pred)
    return _ratio(c.fp, c.fp + c.tn)


def auroc(y_true: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Area under the ROC curve via the Mann–Whitney U statistic (ties count one half)."""
    from scipy.stats import rankdata

    t = np.asarray(y_true, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(t.sum()), int((~t).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)  # average ranks for ties
    u = float(ranks[t].sum()) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def auprc(y_true: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Average precision: sum over thresholds of precision times the recall step.

    Tied scores are taken as one threshold, as in scikit-learn's
    ``average_precision_score``.
    """
    t = np.asarray(y_true, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos = int(t.sum())
    if n_pos == 0 or t.size == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s_sorted, t_sorted = s[order], t[order]
    tp = np.cumsum(t_sorted)
    fp = np.cumsum(~t_sorted)
    # keep the last index of each run of tied scores
    last = np.r_[np.diff(s_sorted) != 0, True]
    tp, fp = tp[last], fp[last]
    prec = tp / (tp + fp)
    rec = tp / n_pos
    steps = np.diff(np.r_[0.0, rec])
    return float(np.sum(prec * steps))


def roc_curve(y_true: npt.ArrayLike, scores: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """(fpr, tpr) points from the strictest threshold to the loosest, starting at (0, 0)."""
    t = np.asarray(y_true, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(t.sum()), int((~t).sum())
    if n_pos == 0 or n_neg == 0:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0])
    order = np.argsort(-s, kind="mergesort")
    s_sorted, t_sorted = s[order], t[order]
    last = np.r_[np.diff(s_sorted) != 0, True]
    tpr = np.r_[0.0, np.cumsum(t_sorted)[last] / n_pos]
    fpr_ = np.r_[0.0, np.cumsum(~t_sorted)[last] / n_neg]
    return fpr_.astype(np.float64), tpr.astype(np.float64)


def threshold_at_fpr(benign_scores: npt.ArrayLike, target_fpr: float) -> float:
    """The lowest threshold ``t`` such that the share of benign scores ``>= t`` is <= target.

    With ties at the boundary the realised FPR can be below the target, never above.
    With no benign scores the threshold is +inf (flag nothing): we cannot promise an FPR.
    """
    if not 0.0 <= target_fpr < 1.0:
        raise ValueError(f"target_fpr must be in [0, 1), not {target_fpr}")
    s = np.sort(np.asarray(benign_scores, dtype=np.float64))[::-1]
    s = s[~np.isnan(s)]
    if s.size == 0:
        return float("inf")
    allowed = math.floor(target_fpr * s.size + 1e-9)
    if allowed >= s.size:
        return float(s[-1])
    # everything strictly above s[allowed] may be flagged: at most `allowed` scores
    return float(np.nextafter(s[allowed], np.inf))


def campaign_caught(member_flagged: npt.ArrayLike, share: float = CAMPAIGN_CAUGHT_SHARE) -> bool:
    """True when at least ``share`` of a campaign's accounts are at review or above."""
    f = np.asarray(member_flagged, dtype=bool)
    if f.size == 0:
        return False
    # integer comparison avoids 0.9 * 10 = 9.000000000000002 style float traps
    return bool(int(f.sum()) * 1000 >= round(share * 1000) * f.size)


def bootstrap(
    statistic: Callable[[npt.NDArray[np.int64]], float],
    n: int,
    *,
    groups: Sequence[int] | npt.NDArray[np.int64] | None = None,
    reps: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> Estimate:
    """Percentile bootstrap of ``statistic(indices)`` over ``n`` units.

    ``statistic`` receives an index array into the units (the identity for the
    point estimate). With ``groups`` (a group id per unit), whole groups are
    resampled instead, e.g. all subjects of a campaign together. Replicates where
    the statistic is undefined (nan) are dropped from the interval.
    """
    if n < 0 or reps < 1 or not 0.0 < alpha < 1.0:
        raise ValueError("bootstrap needs n >= 0, reps >= 1 and 0 < alpha < 1")
    identity = np.arange(n, dtype=np.int64)
    point = float(statistic(identity)) if n else float("nan")
    if n == 0:
        return Estimate(point, float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    if groups is None:
        draws = (rng.integers(0, n, size=n) for _ in range(reps))
    else:
        g = np.asarray(groups)
        if g.shape != (n,):
            raise ValueError("groups must give one group id per unit")
        uniq, inverse = np.unique(g, return_inverse=True)
        members = [identity[inverse == k] for k in range(uniq.size)]
        draws = (
            np.concatenate([members[k] for k in rng.integers(0, uniq.size, size=uniq.size)])
            for _ in range(reps)
        )
    values = np.array([statistic(idx) for idx in draws], dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return Estimate(point, float("nan"), float("nan"), n)
    lo, hi = np.quantile(values, [alpha / 2.0, 1.0 - alpha / 2.0])
    return Estimate(point, float(lo), float(hi), n)
