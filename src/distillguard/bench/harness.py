"""`distillguard bench`: every detector on identical DistillBench traffic.

1. Simulate (or reuse cached) traffic for the calibration seed and each reported seed.
2. Fit every detector on the calibration seed only (traffic + labels).
3. Score each reported seed; replay it in event time for harvest-before-containment
   (closed loop: hydra campaigns replace contained accounts, see ``replay``).
4. Compute metrics with bootstrap intervals and write ``results.json``,
   ``report.md`` and ``report.html`` into ``out``.

This module orchestrates; metrics live in ``metrics``/``results``, replay in
``replay``, rendering in ``report``.
"""

from __future__ import annotations

import gc
import logging
import math
import resource
import sys
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import polars as pl

from distillguard import schema as S
from distillguard.bench.detector import (
    DETECTORS,
    SUBJECT_COLUMNS,
    Detector,
    DetectorUnavailable,
    DistillguardDetector,
    SubjectLabels,
    check_scores,
    make_detector,
)
from distillguard.bench.replay import (
    FLAG_ACTIONS,
    harvest,
    harvest_curve,
    replacements,
    replay_closed_loop,
)
from distillguard.bench.results import BenchResult, Cost, DetectorResult, evaluate

if TYPE_CHECKING:
    from distillguard.decisions import Calibration

__all__ = [
    "DEFAULT_TARGET_FPR",
    "DetectorRun",
    "Traffic",
    "calibrate_on_scenario",
    "default_target_fpr",
    "load_traffic",
    "run_bench",
    "run_detectors",
]

log = logging.getLogger(__name__)

# Fallback only: the shared target is distillguard's own review target
# (decisions.calibrate.DEFAULT_TARGETS), so every detector is held to the same FPR.
DEFAULT_TARGET_FPR = 0.0005


def default_target_fpr() -> float:
    """distillguard's review-level target FPR, which the baselines are held to as well."""
    try:
        from distillguard.decisions.calibrate import DEFAULT_TARGETS
    except ImportError:
        return DEFAULT_TARGET_FPR
    return float(DEFAULT_TARGETS.get("review", DEFAULT_TARGET_FPR))


_SUBJECT = list(SUBJECT_COLUMNS)


@dataclass(frozen=True)
class Traffic:
    """One simulated seed: canonical events (sorted by time) and their labels."""

    seed: int
    events: pl.DataFrame
    labels: SubjectLabels
    path: Path


def _scenario_slug(scenario: str) -> str:
    p = Path(scenario)
    return p.stem if p.suffix == ".toml" else scenario


def _cache_matches(folder: Path, scenario: str, *, seed: int, scale: float) -> bool:
    """Cached traffic is reused only for the same scenario version, seed and scale."""
    meta_path = folder / "scenario.json"
    if not meta_path.is_file():
        return True  # written by an older simulator or by hand: trust the folder name
    meta = orjson.loads(meta_path.read_bytes())
    if meta.get("seed") != seed or float(meta.get("scale", 1.0)) != scale:
        return False
    try:
        from distillguard.bench.simulate import load_scenario

        version = load_scenario(scenario).version
    except (ValueError, FileNotFoundError):
        return True
    if meta.get("version") != version:
        log.info(
            "cached traffic in %s is from scenario version %s: re-simulating",
            folder,
            meta.get("version"),
        )
        return False
    return True


def load_traffic(scenario: str, *, seed: int, work_dir: Path, scale: float = 1.0) -> Traffic:
    """Simulated traffic for ``seed``, cached under ``work_dir`` (same seed, same bytes)."""
    folder = work_dir / f"{_scenario_slug(scenario)}-seed{seed}-x{scale:g}"
    events_path = folder / "events.parquet"
    labels_dir = folder / "labels"
    cached = events_path.is_file() and (labels_dir / "subjects.parquet").is_file()
    if not (cached and _cache_matches(folder, scenario, seed=seed, scale=scale)):
        from distillguard.bench.simulate import simulate

        log.info("simulating %s seed %d into %s", scenario, seed, folder)
        simulate(scenario, seed=seed, out=folder, fmt="parquet", scale=scale)
    else:
        log.info("reusing cached traffic %s", folder)
    events = pl.read_parquet(events_path).sort(S.TIMESTAMP, maintain_order=True)
    return Traffic(seed=seed, events=events, labels=SubjectLabels.load(labels_dir), path=folder)


def calibrate_on_scenario(
    scenario: str,
    *,
    seed: int,
    work_dir: Path,
    target_fpr: float | None = None,
    scale: float = 1.0,
) -> Calibration:
    """distillguard's calibration, fit on one seed's traffic (never a reported seed)."""
    traffic = load_traffic(scenario, seed=seed, work_dir=work_dir, scale=scale)
    detector = DistillguardDetector(target_fpr=target_fpr or default_target_fpr())
    detector.fit(traffic.events, traffic.labels)
    calibration = detector.calibration
    if calibration is None:
        raise RuntimeError("calibration produced nothing")
    return calibration


def _rss_mib() -> float:
    """The process's max RSS per getrusage (since the last ``_PeakRss.start`` on Linux)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


class _PeakRss:
    """Peak RSS over a stretch of the run, at no cost to the code measured.

    On Linux, writing ``5`` to ``/proc/self/clear_refs`` resets the kernel's RSS
    high-water mark (``VmHWM``) to the current RSS, so reading ``VmHWM`` afterwards
    gives the peak of this stretch alone. Unlike tracemalloc it sees every
    allocation (Polars' Rust side included) and slows nothing. The figure is the
    whole process's resident memory, so it includes what was resident before
    (interpreter, libraries, the loaded traffic). Where the reset is not allowed
    (not Linux, a locked-down /proc), the peak is NaN.

    The reset also resets what ``getrusage`` reports as ``ru_maxrss``, so the
    whole-run maximum is kept here (``run_max_mib``).
    """

    _CLEAR = Path("/proc/self/clear_refs")
    _STATUS = Path("/proc/self/status")

    def __init__(self) -> None:
        self.ok = False
        self.run_max_mib = _rss_mib()

    def start(self) -> None:
        self.run_max_mib = max(self.run_max_mib, _rss_mib())
        try:
            self._CLEAR.write_text("5")
            self.ok = True
        except OSError:
            self.ok = False

    def peak_mib(self) -> float:
        if not self.ok:
            return float("nan")
        try:
            for line in self._STATUS.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) / 1024  # kB
                    self.run_max_mib = max(self.run_max_mib, peak)
                    return peak
        except (OSError, ValueError, IndexError):
            pass
        return float("nan")


def _labelled(scores: pl.DataFrame, traffic: Traffic) -> pl.DataFrame:
    """Scores joined to labels, seed-prefixed campaign ids; unscored subjects get risk 0."""
    subjects = traffic.labels.subjects
    strategies = (
        pl.col("strategies").cast(pl.List(pl.Utf8))
        if "strategies" in subjects.columns
        else pl.lit(None, dtype=pl.List(pl.Utf8)).alias("strategies")
    )
    labels = subjects.select(
        pl.col(S.ACCOUNT),
        pl.col(S.ENDUSER).fill_null("").alias("_eu"),
        pl.col(S.ENDUSER),
        "population",
        "is_attack",
        "campaign_id",
        strategies,
    )
    scores = scores.select(
        pl.col(S.ACCOUNT), pl.col(S.ENDUSER).fill_null("").alias("_eu"), "risk", "action"
    )
    return (
        labels.join(scores, on=[S.ACCOUNT, "_eu"], how="left")
        .drop("_eu")
        .with_columns(
            pl.lit(traffic.seed, dtype=pl.Int64).alias("seed"),
            pl.col("risk").fill_null(0.0),
            pl.col("action").fill_null("allow"),
            (pl.lit(f"s{traffic.seed}:") + pl.col("campaign_id")).alias("campaign_id"),
        )
    )


def _with_replay_flags(labelled: pl.DataFrame, times: pl.DataFrame) -> pl.DataFrame:
    """Add ``flagged_in_replay``: flagged at any replay cutoff, or at the end of the day.

    A benign user flagged for a few hours and cleared later was still a false positive.
    """
    flagged = times.filter(pl.col("flagged_at").is_not_null()).select(
        pl.col(S.ACCOUNT), pl.col(S.ENDUSER).fill_null("").alias("_eu"), pl.lit(True).alias("_f")
    )
    return (
        labelled.with_columns(pl.col(S.ENDUSER).fill_null("").alias("_eu"))
        .join(flagged, on=[S.ACCOUNT, "_eu"], how="left")
        .with_columns(
            (pl.col("_f").fill_null(False) | pl.col("action").is_in(FLAG_ACTIONS)).alias(
                "flagged_in_replay"
            )
        )
        .drop("_eu", "_f")
    )


def _prefixed_campaigns(frame: pl.DataFrame, seed: int) -> pl.DataFrame:
    return frame.with_columns((pl.lit(f"s{seed}:") + pl.col("campaign_id")).alias("campaign_id"))


@dataclass(frozen=True)
class DetectorRun:
    """What one detector produced over the reported seeds ."""

    scored: pl.DataFrame
    harvest: pl.DataFrame | None
    curve: pl.DataFrame | None
    cost: Cost


def run_detectors(
    detectors: Sequence[Detector],
    calibration: Traffic,
    evaluation: Sequence[Traffic],
    *,
    replay_step: timedelta | None = timedelta(hours=1),
    trace_memory: bool = True,
) -> dict[str, DetectorRun]:
    """Fit each detector on ``calibration``, score (and replay) each ``evaluation`` seed.

    The peak RSS of ``fit`` and of scoring (``_PeakRss``, free) is always measured.
    With ``trace_memory``, ``fit`` also runs under tracemalloc (the Python/numpy heap
    peak; tracing slows Python-heavy fits, so fit seconds are then inflated).
    """
    runs: dict[str, DetectorRun] = {}
    rss = _PeakRss()
    for det in detectors:
        gc.collect()
        rss.start()
        if trace_memory:
            tracemalloc.start()
        started = time.perf_counter()
        det.fit(calibration.events, calibration.labels)
        fit_seconds = time.perf_counter() - started
        peak = float("nan")
        if trace_memory:
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        fit_rss = rss.peak_mib()
        scored, harvests, curves = [], [], []
        seconds, events = 0.0, 0
        score_rss = float("nan")
        for traffic in evaluation:
            rss.start()
            started = time.perf_counter()
            scores = check_scores(det.score(traffic.events), det.name)
            seconds += time.perf_counter() - started
            now = rss.peak_mib()
            score_rss = now if math.isnan(score_rss) else max(score_rss, now)
            events += traffic.events.height
            labelled = _labelled(scores, traffic)
            if replay_step is not None:
                loop = replay_closed_loop(det, traffic.events, traffic.labels, step=replay_step)
                labelled = _with_replay_flags(labelled, loop.times)
                # Harvest over the campaigns' own queues and accounts; what replacements were
                # served is the loop's cost figure, not harvest (see ``replay``).
                served = harvest(traffic.events, loop.times, traffic.labels).join(
                    replacements(loop), on="campaign_id", how="left"
                )
                harvests.append(_prefixed_campaigns(served, traffic.seed))
                curves.append(
                    harvest_curve(traffic.events, loop.times, traffic.labels).with_columns(
                        pl.lit(traffic.seed, dtype=pl.Int64).alias("seed")
                    )
                )
            scored.append(labelled)
            if replay_step is not None:
                log.info(
                    "%s, seed %d: %d hydra accounts replaced in the closed-loop replay",
                    det.name,
                    traffic.seed,
                    loop.replaced,
                )
        cost = Cost(
            events_per_second=events / seconds if seconds > 0 else float("nan"),
            fit_seconds=fit_seconds,
            fit_peak_traced_mib=peak,
            process_max_rss_mib=max(rss.run_max_mib, _rss_mib()),
            fit_peak_rss_mib=fit_rss,
            score_peak_rss_mib=score_rss,
        )
        runs[det.name] = DetectorRun(
            scored=pl.concat(scored, how="vertical_relaxed"),
            harvest=pl.concat(harvests, how="vertical_relaxed") if harvests else None,
            curve=pl.concat(curves, how="vertical_relaxed") if curves else None,
            cost=cost,
        )
        log.info("%s: fit %.1fs, %.0f events/s", det.name, fit_seconds, cost.events_per_second)
    return runs


def _campaign_info(evaluation: Sequence[Traffic]) -> pl.DataFrame | None:
    parts = []
    for t in evaluation:
        path = t.path / "labels" / "campaigns.parquet"
        if path.is_file():
            frame = pl.read_parquet(path)
            if {"campaign_id", "strategies"} <= set(frame.columns):
                parts.append(_prefixed_campaigns(frame.select("campaign_id", "strategies"), t.seed))
    return pl.concat(parts, how="vertical_relaxed") if parts else None


def run_bench(
    scenario: str,
    *,
    calibration_seed: int,
    eval_seeds: Sequence[int],
    out: Path,
    detectors: Sequence[str] | None = None,
    target_fpr: float | None = None,
    scale: float = 1.0,
    replay_step: timedelta | None = timedelta(hours=1),
    bootstrap_reps: int = 1000,
    work_dir: Path | None = None,
    trace_memory: bool = True,
) -> BenchResult:
    """Run the bench and write ``results.json``, ``report.md``, ``report.html`` into ``out``.

    ``target_fpr=None`` uses distillguard's own review target for every detector.
    ``replay_step=None`` skips the event-time replay (no harvest metrics).
    Simulated traffic is cached in ``work_dir`` (default ``out / "traffic"``).
    ``trace_memory=False`` skips tracemalloc (faster fits, no memory figure).
    """
    from distillguard.bench.report import write_bench_report

    if not eval_seeds:
        raise ValueError("give at least one seed to report on")
    if calibration_seed in eval_seeds:
        raise ValueError("the calibration seed must not be one of the reported seeds")
    names = list(detectors) if detectors else list(DETECTORS)
    unknown = [n for n in names if n not in DETECTORS]
    if unknown:
        raise ValueError(f"unknown detector(s) {unknown}; known: {', '.join(DETECTORS)}")
    target_fpr = default_target_fpr() if target_fpr is None else target_fpr
    out.mkdir(parents=True, exist_ok=True)
    work = work_dir or out / "traffic"

    built: list[Detector] = []
    skipped: dict[str, str] = {}
    for name in names:
        try:
            built.append(make_detector(name, target_fpr=target_fpr))
        except DetectorUnavailable as exc:
            log.warning("skipping %s: %s", name, exc)
            skipped[name] = str(exc)
    calibration = load_traffic(scenario, seed=calibration_seed, work_dir=work, scale=scale)
    evaluation = [load_traffic(scenario, seed=s, work_dir=work, scale=scale) for s in eval_seeds]
    runs = run_detectors(
        built, calibration, evaluation, replay_step=replay_step, trace_memory=trace_memory
    )

    info = _campaign_info(evaluation)
    results: list[DetectorResult] = [
        evaluate(
            name,
            run.scored,
            cost=run.cost,
            harvest=run.harvest,
            campaign_info=info,
            target_fpr=target_fpr,
            reps=bootstrap_reps,
        )
        for name, run in runs.items()
    ]
    result = BenchResult(
        scenario=scenario,
        calibration_seed=calibration_seed,
        eval_seeds=tuple(eval_seeds),
        target_fpr=target_fpr,
        detectors=tuple(results),
        skipped=skipped,
        out_dir=out,
    )
    (out / "results.json").write_bytes(
        orjson.dumps(result.as_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
    )
    write_bench_report(
        result,
        out,
        scored={n: r.scored for n, r in runs.items()},
        curves={n: r.curve for n, r in runs.items() if r.curve is not None},
    )
    return result
