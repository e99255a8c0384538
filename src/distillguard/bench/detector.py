"""The detector interface the bench harness runs, and the labels it may calibrate on.

A detector is fitted once on a calibration seed (its traffic and labels) and
then scores other seeds it has never seen. ``score`` returns one row per
subject with the columns in :data:`SCORE_COLUMNS`:

- ``distillguard.account.id`` (Utf8) — the account,
- ``enduser.id`` (Utf8, null for direct accounts) — the router's end user,
- ``risk`` (Float64) — higher is more suspicious; scale is the detector's own,
- ``action`` (Utf8) — one of :class:`distillguard.records.Action`.

Detectors are registered by id in :data:`DETECTORS` (no subclass discovery).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import polars as pl

from distillguard import schema as S
from distillguard.records import Action

if TYPE_CHECKING:
    from distillguard.decisions import Calibration

__all__ = [
    "DETECTORS",
    "FINGERPRINT",
    "SCORE_COLUMNS",
    "SUBJECT_COLUMNS",
    "Detector",
    "DetectorUnavailable",
    "DistillguardDetector",
    "SubjectLabels",
    "check_scores",
    "event_fingerprint",
    "make_detector",
]

log = logging.getLogger(__name__)

SUBJECT_COLUMNS = (S.ACCOUNT, S.ENDUSER)
SCORE_COLUMNS = (S.ACCOUNT, S.ENDUSER, "risk", "action")
# A per-event id that is unique across seeds: the event key alone may repeat between
# simulated seeds, key + time + account does not. Used for per-event caches.
FINGERPRINT = "bench.fingerprint"

_ACTIONS = [a.value for a in Action]


class DetectorUnavailable(RuntimeError):
    """A detector's dependencies (another part of distillguard) are not there yet."""


@dataclass(frozen=True)
class SubjectLabels:
    """Ground truth for one simulated seed.

    ``subjects``: one row per subject with ``distillguard.account.id``, ``enduser.id``
    (null for direct accounts), ``population`` (Utf8), ``is_attack`` (Boolean),
    ``campaign_id`` (Utf8, null for benign). ``events`` (optional): event key,
    ``campaign_id``, ``population``.
    """

    subjects: pl.DataFrame
    events: pl.DataFrame | None = None

    @classmethod
    def load(cls, labels_dir: Path) -> SubjectLabels:
        """Read the simulator's ``labels/`` folder (see "Bench labels" in HELPERS.md)."""
        subjects = pl.read_parquet(labels_dir / "subjects.parquet")
        events_path = labels_dir / "events.parquet"
        events = pl.read_parquet(events_path) if events_path.is_file() else None
        return cls.from_frame(subjects, events)

    @classmethod
    def from_frame(
        cls, subjects: pl.DataFrame, events: pl.DataFrame | None = None
    ) -> SubjectLabels:
        renames = {"account_id": S.ACCOUNT, "enduser_id": S.ENDUSER}
        frame = subjects.rename({k: v for k, v in renames.items() if k in subjects.columns})
        missing = {S.ACCOUNT, "is_attack"} - set(frame.columns)
        if missing:
            raise ValueError(f"subject labels lack column(s) {sorted(missing)}")
        for name, dtype in (
            (S.ENDUSER, pl.Utf8),
            ("campaign_id", pl.Utf8),
            ("population", pl.Utf8),
        ):
            if name not in frame.columns:
                frame = frame.with_columns(pl.lit(None, dtype=dtype).alias(name))
        frame = frame.with_columns(
            pl.col(S.ACCOUNT).cast(pl.Utf8),
            pl.col(S.ENDUSER).cast(pl.Utf8),
            pl.col("is_attack").cast(pl.Boolean),
            pl.col("campaign_id").cast(pl.Utf8),
            pl.col("population")
            .cast(pl.Utf8)
            .fill_null(
                pl.when(pl.col("is_attack")).then(pl.lit("attack")).otherwise(pl.lit("benign"))
            ),
        )
        return cls(subjects=frame, events=events)

    def benign(self) -> pl.DataFrame:
        return self.subjects.filter(~pl.col("is_attack"))


class Detector(Protocol):
    """What the harness runs. ``fit`` sees the calibration seed only, never a reported seed."""

    name: str

    def fit(self, events: pl.DataFrame, labels: SubjectLabels) -> None: ...

    def score(self, events: pl.DataFrame) -> pl.DataFrame: ...


def event_fingerprint(events: pl.DataFrame) -> pl.Expr:
    """A UInt64 per event, stable across calls, distinct across seeds (see FINGERPRINT)."""
    parts = [pl.col(S.ACCOUNT), pl.col(S.TIMESTAMP)]
    if S.EVENT_KEY in events.columns:
        parts.append(pl.col(S.EVENT_KEY))
    if S.ENDUSER in events.columns:
        parts.append(pl.col(S.ENDUSER))
    return pl.struct(parts).hash(seed=7).alias(FINGERPRINT)


def check_scores(scores: pl.DataFrame, detector: str) -> pl.DataFrame:
    """Validate and normalise a detector's output to exactly :data:`SCORE_COLUMNS`."""
    missing = [c for c in SCORE_COLUMNS if c not in scores.columns]
    if missing and missing != [S.ENDUSER]:
        raise ValueError(f"detector {detector!r} output lacks column(s) {missing}")
    if missing:
        scores = scores.with_columns(pl.lit(None, dtype=pl.Utf8).alias(S.ENDUSER))
    out = scores.select(
        pl.col(S.ACCOUNT).cast(pl.Utf8),
        pl.col(S.ENDUSER).cast(pl.Utf8),
        pl.col("risk").cast(pl.Float64).fill_nan(0.0).fill_null(0.0),
        pl.col("action").cast(pl.Utf8),
    )
    bad = out.filter(~pl.col("action").is_in(_ACTIONS))
    if bad.height:
        raise ValueError(
            f"detector {detector!r} returned unknown action(s) {bad['action'].unique().to_list()}"
        )
    if out.select(pl.struct(SUBJECT_COLUMNS).is_duplicated().any()).item():
        raise ValueError(f"detector {detector!r} returned more than one row for a subject")
    return out


def _batches(events: pl.DataFrame, size: int = 65_536) -> Iterable[pl.DataFrame]:
    yield from events.iter_slices(size)


def _conform(events: pl.DataFrame) -> pl.DataFrame:
    """Add absent canonical columns as typed nulls (every optional field may be null)."""
    empty = pl.from_arrow(S.EVENT_SCHEMA.empty_table())
    assert isinstance(empty, pl.DataFrame)
    missing = [name for name in empty.columns if name not in events.columns]
    if not missing:
        return events
    return events.with_columns(pl.lit(None, dtype=empty.schema[n]).alias(n) for n in missing)


class DistillguardDetector:
    """distillguard itself: SignalRunner features, ``decisions.calibrate`` then ``detect``.

    The feature frame of the last full stream scored is kept, so that replay
    (which scores prefixes of the same stream) pays for signals once. A known
    approximation: ``template.cluster`` is then computed over the full stream,
    a small look-ahead that favours distillguard in harvest-before-containment.
    """

    name = "distillguard"

    def __init__(self, *, target_fpr: float | None = None) -> None:
        self.target_fpr = target_fpr  # None: decisions' own default targets
        self._calibration: Calibration | None = None
        self._cached: pl.DataFrame | None = None
        try:
            from distillguard import decisions, pipeline  # noqa: F401

            if not (hasattr(decisions, "detect") and hasattr(decisions, "calibrate")):
                raise ImportError("distillguard.decisions has no detect/calibrate yet")
            from distillguard.signals import SignalRunner  # noqa: F401
        except ImportError as exc:
            raise DetectorUnavailable(f"distillguard detector unavailable: {exc}") from exc

    @property
    def calibration(self) -> Calibration | None:
        return self._calibration

    def _features(self, events: pl.DataFrame) -> pl.DataFrame:
        from distillguard.pipeline import feature_frame

        fp = events.select(event_fingerprint(events))
        if self._cached is not None:
            hit = self._cached.filter(pl.col(FINGERPRINT).is_in(fp[FINGERPRINT].implode()))
            if hit.height == events.height:
                return hit.drop(FINGERPRINT)
        frame = feature_frame(iter(_batches(_conform(events))))
        # fingerprint the feature frame itself: its row order is not promised to be the input's
        self._cached = frame.with_columns(event_fingerprint(frame))
        return frame

    def fit(self, events: pl.DataFrame, labels: SubjectLabels) -> None:
        from distillguard.decisions import calibrate

        # The whole seed is scored (benign subjects in the company they really keep);
        # only the benign subjects set the thresholds.
        frame = self._features(events)
        benign = labels.benign().select(S.ACCOUNT, S.ENDUSER, "population")
        self._calibration = calibrate(frame, benign, target_fpr=self.target_fpr)

    def score(self, events: pl.DataFrame) -> pl.DataFrame:
        from distillguard.decisions import detect

        frame = self._features(events)
        detection: Any = detect(frame, calibration=self._calibration, policy=None)
        return check_scores(detection.subjects, self.name)


def _baseline(kind: str) -> Callable[..., Detector]:
    def build(*, target_fpr: float) -> Detector:
        from distillguard.bench import baselines

        classes: dict[str, Callable[..., Detector]] = {
            "rate": baselines.RateBaseline,
            "iforest": baselines.IsolationForestBaseline,
            "prada": baselines.PradaBaseline,
            "seat": baselines.SeatBaseline,
        }
        return classes[kind](target_fpr=target_fpr)

    return build


# Explicit registry: id -> factory taking the shared target FPR.
DETECTORS: dict[str, Callable[..., Detector]] = {
    "distillguard": DistillguardDetector,
    "rate": _baseline("rate"),
    "iforest": _baseline("iforest"),
    "prada": _baseline("prada"),
    "seat": _baseline("seat"),
}


def make_detector(name: str, *, target_fpr: float) -> Detector:
    """Build a registered detector; raises DetectorUnavailable if its parts are missing."""
    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r}; known: {', '.join(DETECTORS)}")
    return DETECTORS[name](target_fpr=target_fpr)
