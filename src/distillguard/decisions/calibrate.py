"""Risk thresholds fitted to a target false-positive rate on benign traffic.

Thresholds are never hand-set: for each action the threshold is the lowest
risk at which at most ``target`` of the calibration seed's benign subjects
would reach that action, overall *and* in every benign population (hard
negatives such as benchmark runners or shared NATs must not carry the whole
false-positive budget). Calibrate on one seed, report on others: the data a
calibration was fitted on must never be the data reported on.

With fewer benign subjects than 1 / target, the threshold sits just above
the highest benign risk seen (the target cannot be measured more finely).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distillguard.decisions.config import ConfigError
from distillguard.records import Action

__all__ = [
    "CALIBRATION_VERSION",
    "DEFAULT_TARGETS",
    "Calibration",
    "fit_thresholds",
]

CALIBRATION_VERSION = 1
# Target benign FPR per action. Review at 0.05% (the budget a human review queue can
# absorb); stronger actions tighter still, since covert degradation reaching ~0.03% of
# traffic was already judged "the wrong tradeoff".
DEFAULT_TARGETS: dict[str, float] = {
    Action.MONITOR.value: 0.01,
    Action.REVIEW.value: 0.0005,
    Action.THROTTLE.value: 0.0002,
    Action.DOWNGRADE.value: 0.0001,
    Action.BLOCK.value: 0.00005,
}
# No benign population may lose more than this at review or above.
DEFAULT_POPULATION_TARGET = 0.005
# Where a target is finer than the calibration sample can measure (fewer than 1/target benign
# subjects), the threshold sits above the highest benign risk by this many log-odds, more for
# stronger actions, so the ladder stays graduated instead of collapsing onto one value.
_HEADROOM_LOGIT = {
    Action.MONITOR.value: 0.25,
    Action.REVIEW.value: 0.25,
    Action.THROTTLE.value: 1.0,
    Action.DOWNGRADE.value: 2.0,
    Action.BLOCK.value: 3.0,
}


@dataclass(frozen=True)
class Calibration:
    """Fitted thresholds (risk at which each action starts) and how they were obtained."""

    thresholds: Mapping[str, float]
    targets: Mapping[str, float]
    population_target: float
    benign_subjects: int
    achieved_fpr: Mapping[str, float] = field(default_factory=dict)
    population_fpr: Mapping[str, float] = field(default_factory=dict)
    source: str = ""
    version: int = CALIBRATION_VERSION

    def __post_init__(self) -> None:
        known = {a.value for a in Action if a is not Action.ALLOW}
        bad = sorted(set(self.thresholds) - known)
        if bad:
            raise ConfigError(f"calibration: unknown action(s) {bad}")
        for action, value in self.thresholds.items():
            if not 0.0 <= value <= 1.0 or math.isnan(value):
                raise ConfigError(f"calibration: threshold for {action} not in [0, 1]")

    def action_for(self, risk: float) -> Action:
        best = Action.ALLOW
        for action in Action:
            t = self.thresholds.get(action.value)
            if t is not None and risk >= t:
                best = action
        return best

    @classmethod
    def uncalibrated(cls) -> Calibration:
        """Conservative stand-in when no calibration is given: only very high risks act.

        A scan without calibration is a preview; it is logged as such.
        """
        return cls(
            thresholds={"monitor": 0.5, "review": 0.9, "throttle": 0.97, "downgrade": 0.99,
                        "block": 0.995},
            targets={},
            population_target=DEFAULT_POPULATION_TARGET,
            benign_subjects=0,
            source="uncalibrated defaults",
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "thresholds": dict(self.thresholds),
            "targets": dict(self.targets),
            "population_target": self.population_target,
            "benign_subjects": self.benign_subjects,
            "achieved_fpr": dict(self.achieved_fpr),
            "population_fpr": dict(self.population_fpr),
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, source: str = "calibration") -> Calibration:
        allowed = {
            "version", "thresholds", "targets", "population_target", "benign_subjects",
            "achieved_fpr", "population_fpr", "source",
        }  # fmt: skip
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {unknown}")
        if raw.get("version") != CALIBRATION_VERSION:
            raise ConfigError(f"{source}: unsupported version {raw.get('version')!r}")
        try:
            return cls(
                thresholds={str(k): float(v) for k, v in raw["thresholds"].items()},
                targets={str(k): float(v) for k, v in raw.get("targets", {}).items()},
                population_target=float(raw.get("population_target", DEFAULT_POPULATION_TARGET)),
                benign_subjects=int(raw.get("benign_subjects", 0)),
                achieved_fpr={str(k): float(v) for k, v in raw.get("achieved_fpr", {}).items()},
                population_fpr={str(k): float(v) for k, v in raw.get("population_fpr", {}).items()},
                source=str(raw.get("source", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"{source}: {exc!r}") from None

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", "utf-8")

    @classmethod
    def load(cls, path: Path) -> Calibration:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected an object")
        return cls.from_dict(raw, source=str(path))


def _threshold_for(scores: np.ndarray, target: float) -> float:
    """Lowest threshold t with (scores >= t).mean() <= target."""
    n = scores.size
    if n == 0:
        return 0.0
    allowed = math.floor(target * n + 1e-9)
    if allowed >= n:
        return 0.0
    ranked = np.sort(scores)[::-1]
    # Just above the (allowed+1)-th highest benign score.
    return float(np.nextafter(ranked[allowed], np.inf))


def _with_headroom(risk: float, headroom: float) -> float:
    if risk <= 0.0:
        return risk
    if risk >= 1.0:
        return 1.0
    logit = math.log(risk / (1.0 - risk)) + headroom
    return 1.0 / (1.0 + math.exp(-logit))


def fit_thresholds(
    risks: Sequence[float] | np.ndarray,
    populations: Sequence[str | None] | None = None,
    *,
    targets: Mapping[str, float] | None = None,
    population_target: float = DEFAULT_POPULATION_TARGET,
    source: str = "",
) -> Calibration:
    """Fit a :class:`Calibration` from benign subjects' risks (and their populations)."""
    scores = np.asarray(risks, dtype=np.float64)
    if scores.size and not np.isfinite(scores).all():
        raise ValueError("benign risks must be finite")
    chosen = dict(DEFAULT_TARGETS if targets is None else targets)
    for action, target in chosen.items():
        if action not in DEFAULT_TARGETS:
            raise ConfigError(f"calibration: unknown action {action!r}")
        if not 0.0 <= target <= 1.0:
            raise ConfigError(f"calibration: target for {action} not in [0, 1]")
    groups: dict[str, np.ndarray] = {}
    if populations is not None:
        pops = np.asarray([p or "unknown" for p in populations], dtype=object)
        if pops.size != scores.size:
            raise ValueError("populations and risks differ in length")
        groups = {str(p): scores[pops == p] for p in sorted(set(pops.tolist()))}
    thresholds: dict[str, float] = {}
    floor = 0.0
    for action in Action:
        if action.value not in chosen:
            continue
        t = _threshold_for(scores, chosen[action.value])
        if action.at_least(Action.REVIEW):
            for group in groups.values():
                t = max(t, _threshold_for(group, min(population_target, chosen[action.value])))
        if scores.size and t > float(scores.max()):
            t = max(t, _with_headroom(float(scores.max()), _HEADROOM_LOGIT[action.value]))
        t = max(t, floor)
        thresholds[action.value] = min(t, 1.0)
        floor = thresholds[action.value]
    achieved = {
        a: float((scores >= t).mean()) if scores.size else 0.0 for a, t in thresholds.items()
    }
    review = thresholds.get(Action.REVIEW.value)
    pop_fpr = (
        {p: float((g >= review).mean()) for p, g in groups.items() if g.size}
        if review is not None
        else {}
    )
    return Calibration(
        thresholds=thresholds,
        targets=chosen,
        population_target=population_target,
        benign_subjects=int(scores.size),
        achieved_fpr=achieved,
        population_fpr=pop_fpr,
        source=source,
    )
