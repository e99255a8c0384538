"""The scan: store → signals → accounts/networks/decisions → outputs.

This module only orchestrates. Each stage is a pure function of frames that
lives in its own part; the store (an engine) only moves data.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from distillguard import schema as S
from distillguard.accounts.base import OPTIONAL_COLUMNS, SUBJECT, SYSTEM_ID
from distillguard.accounts.profile import with_subject_taken

if TYPE_CHECKING:
    from distillguard.decisions import Calibration, Detection, DetectionConfig, Policy
    from distillguard.engines.base import Store
    from distillguard.ingest import IngestSummary, Mapping
    from distillguard.signals import SignalRunner

__all__ = ["ScanResult", "feature_frame", "scan"]

log = logging.getLogger(__name__)

Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class ScanResult:
    ingest: IngestSummary | None
    events: int
    subjects: int
    flagged: int
    campaigns: int
    seconds: dict[str, float]
    out_dir: Path


# Strings detection reads as values, repeated across events (an account has one org, a network
# few addresses): dictionary-encoded, 4 bytes a row instead of a 16-byte view plus the text.
# Subject keys and the event key stay strings: they are the ids detection and outputs name.
_REPEATED = (
    S.ORG, S.ROUTER, S.PAYMENT, S.CLIENT_ADDRESS, S.TLS_FINGERPRINT, S.AS_ORG, S.IP_TYPE,
    S.MODEL, S.REASONING_LEVEL, S.CONVERSATION, "dataset.name", "dataset.item",
)  # fmt: skip


def _feature_columns(runner: SignalRunner) -> tuple[set[str], list[str]]:
    """(event columns, score columns) the feature frame keeps.

    Event columns: what detection reads (``accounts.base.ensure_columns``: its required
    columns and ``OPTIONAL_COLUMNS``).
    Score columns: every ``signal.<id>``, ``template.id`` and the dataset ids. Text, request
    ids, user agents and the per-request evidence strings are dropped: nothing downstream
    reads them, and at 10M events they would be most of the frame.
    """
    events = {S.TIMESTAMP, S.ACCOUNT, S.EVENT_KEY, SUBJECT, *OPTIONAL_COLUMNS}
    scores = [*(f"signal.{sid}" for sid in runner.ids), "template.id", "dataset.name"]
    scores.append("dataset.item")
    return events, scores


def _compact(part: pl.DataFrame) -> pl.DataFrame:
    """``part`` in memory of its own, repeated strings dictionary-encoded.

    A column read from the store's Arrow batch (a number, a validity mask, a string buffer)
    keeps that whole batch alive, prompt text included: slices, selects and concats share
    buffers. Keeping those columns as they were held ~1 GB per million events. Gathers,
    :func:`copied` and casts to Categorical allocate new buffers.
    """
    return part.select(_compact_column(c, dtype) for c, dtype in part.schema.items())


def _compact_column(name: str, dtype: pl.DataType) -> pl.Expr:
    from distillguard.signals.text import copied

    if dtype != pl.String:
        return pl.col(name).gather(pl.int_range(pl.len(), dtype=pl.UInt32))
    return pl.col(name).cast(pl.Categorical) if name in _REPEATED else copied(pl.col(name))


def _signal_batches(
    batches: Iterator[pl.DataFrame], runner: SignalRunner, on_progress: Progress | None
) -> pl.DataFrame:
    """Score each batch, keep only the columns detection reads plus the signal columns."""
    event_cols, score_cols = _feature_columns(runner)
    parts: list[pl.DataFrame] = []
    for batch, scores in runner.score_batches(batches):
        system_id = batch.select(
            pl.when(pl.col(S.SYSTEM).is_not_null())
            .then(pl.col(S.SYSTEM).hash())
            .otherwise(None)
            .alias(SYSTEM_ID)
        )
        keep = batch.select(c for c in batch.columns if c in event_cols)
        part = pl.concat([keep, system_id, scores.select(score_cols)], how="horizontal")
        parts.append(_compact(part))
        if on_progress:
            on_progress("signals", batch.height)
        del batch, scores, keep, part  # not held while the next batch is scored
    if not parts:
        raise ValueError("no events to scan")
    frame = pl.concat(parts, how="vertical_relaxed", rechunk=False)
    del parts
    clusters = runner.finish()
    # One column looked up, not the whole frame joined (a join copies every column).
    cluster = (
        frame.select("template.id")
        .join(clusters, on="template.id", how="left", maintain_order="left")
        .get_column("template.cluster")
    )
    frame = frame.with_columns(cluster)
    del clusters, cluster
    _trim_heap()
    return frame


def _trim_heap() -> None:
    """Hand the C heap's free pages back to the OS (glibc; elsewhere nothing happens).

    Scoring frees most of what it allocates, but glibc keeps freed pages in its per-thread
    arenas: after the 1M-event scan's signal stage, 0.32 GB that detection could not use.
    """
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


def feature_frame(
    batches: Iterator[pl.DataFrame],
    *,
    runner: SignalRunner | None = None,
    on_progress: Progress | None = None,
) -> pl.DataFrame:
    """Turn canonical event batches into the feature frame detection reads.

    Memory stays bounded by the batch size for text: only numeric and id columns of the
    whole scan are kept, in buffers of their own, repeated strings as Categorical. Rows come
    in batch order.
    """
    from distillguard.signals import SignalRunner

    runner = runner or SignalRunner.from_config(None)
    return _signal_batches(batches, runner, on_progress)


def scan(
    sources: Sequence[str | Path],
    *,
    store: Store,
    out_dir: Path,
    mapping: Mapping | None = None,
    strict: bool = False,
    calibration: Calibration | None = None,
    policy: Policy | None = None,
    batch_size: int = 65_536,
    on_progress: Progress | None = None,
    config: DetectionConfig | None = None,
    decision_log: Path | None = None,
) -> ScanResult:
    """Ingest ``sources`` (may be empty: scan what the store holds), detect, write outputs.

    ``config`` tunes detection (``DetectionConfig``). With ``decision_log``, every
    subject's decision is appended to that JSONL file (``decisions.DecisionLogSink``),
    stamped with the data's event-time end and the policy version.
    """
    from distillguard.ingest import ingest
    from distillguard.ui import write_scan_outputs

    out_dir.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    summary = None
    if sources:
        summary = ingest(
            sources,
            store=store,
            mapping=mapping,
            strict=strict,
            quarantine_path=out_dir / "quarantine.jsonl",
            on_progress=(lambda n: on_progress("ingest", n)) if on_progress else None,
        )
    else:
        (out_dir / "quarantine.jsonl").touch()
    seconds["ingest"] = time.perf_counter() - started

    from distillguard.decisions import detect

    started = time.perf_counter()
    # Text is streamed in storage order (sorting it would make DuckDB hold every prompt).
    # The feature frame is put in detection's canonical order here, once: detection then
    # works on it as it is, where it used to copy the whole frame while this one was held.
    frame = with_subject_taken(
        [feature_frame(store.scan(None, batch_size, ordered=False), on_progress=on_progress)]
    )
    detection = detect(frame, calibration=calibration, policy=policy, config=config)
    seconds["detect"] = time.perf_counter() - started

    started = time.perf_counter()
    write_scan_outputs(detection, out_dir, events=frame)
    if decision_log is not None:  # after the outputs: a failed scan logs nothing
        _log_decisions(detection, decision_log, policy)
    seconds["outputs"] = time.perf_counter() - started

    subjects = detection.subjects
    flagged = subjects.filter(
        pl.col("action").is_in(["review", "throttle", "downgrade", "block"])
    ).height
    log.info(
        "scan done: %d events, %d subjects, %d flagged", frame.height, subjects.height, flagged
    )
    result = ScanResult(
        ingest=summary,
        events=frame.height,
        subjects=subjects.height,
        flagged=flagged,
        campaigns=len(detection.campaigns),
        seconds=seconds,
        out_dir=out_dir,
    )
    _write_summary(result)
    return result


def _log_decisions(detection: Detection, path: Path, policy: Policy | None) -> None:
    """Append every subject's decision to the append-only decision log."""
    from distillguard.decisions import DecisionLogSink, Policy

    version = (policy or Policy()).version
    n = DecisionLogSink(path).append(
        detection.decisions, decided_at=detection.decided_at, policy_version=version
    )
    log.info("decision log: %d decisions appended to %s", n, path)


def _write_summary(result: ScanResult) -> None:
    """``summary.json``: counts and stage timings of this scan, for people and benchmarks."""
    ingest = result.ingest
    payload = {
        "events": result.events,
        "subjects": result.subjects,
        "flagged": result.flagged,
        "campaigns": result.campaigns,
        "seconds": {k: round(v, 3) for k, v in result.seconds.items()},
        "ingest": None if ingest is None else ingest.as_dict(),
    }
    (result.out_dir / "summary.json").write_text(json.dumps(payload, indent=2))
