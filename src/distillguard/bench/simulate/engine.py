"""``simulate``: scenario -> labelled DistillBench traffic on disk, streamed in chunks."""

from __future__ import annotations

import functools
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from distillguard import schema as S
from distillguard.bench.simulate.library import PromptLibrary
from distillguard.bench.simulate.render import EventRenderer
from distillguard.bench.simulate.scenario import Scenario, load_scenario
from distillguard.bench.simulate.sinks import JsonlEventSink, LabelSink, ParquetEventSink
from distillguard.bench.simulate.subjects import EVAL_BENCHES, POPULATION_LABELS, Cast, build_cast
from distillguard.bench.simulate.timeline import TimelineEngine

__all__ = ["OutputPaths", "SimulationSummary", "simulate"]

log = logging.getLogger(__name__)

# Rows rendered at once: bounds memory (~2-3 KB per row in flight) for any scenario size.
CHUNK_ROWS = 50_000

SUBJECT_LABEL_SCHEMA = pa.schema([
    pa.field("account_id", pa.string()),
    pa.field("enduser_id", pa.string()),
    pa.field("population", pa.string()),
    pa.field("is_attack", pa.bool_()),
    pa.field("campaign_id", pa.string()),
    pa.field("strategies", pa.list_(pa.string())),
    pa.field("n_events", pa.int64()),
])  # fmt: skip
CAMPAIGN_LABEL_SCHEMA = pa.schema([
    pa.field("campaign_id", pa.string()),
    pa.field("n_accounts", pa.int64()),
    pa.field("target", pa.string()),
    pa.field("strategies", pa.list_(pa.string())),
    pa.field("n_events", pa.int64()),
    pa.field("styles", pa.list_(pa.string())),
    pa.field("pools", pa.list_(pa.string())),
])  # fmt: skip


@dataclass(frozen=True)
class OutputPaths:
    """Where one simulation wrote its traffic and ground truth."""

    events: Path
    event_labels: Path
    subjects: Path
    campaigns: Path
    scenario: Path


@dataclass(frozen=True)
class SimulationSummary:
    events: int
    subjects: int  # subjects that sent at least one event
    campaigns: int
    seconds: float
    paths: OutputPaths


@functools.lru_cache(maxsize=1)
def _default_library() -> PromptLibrary:
    return PromptLibrary.from_corpora()


def simulate(
    scenario: str | Path | Scenario,
    *,
    seed: int,
    out: Path,
    fmt: Literal["jsonl", "parquet"] = "jsonl",
    scale: float = 1.0,
    library: PromptLibrary | None = None,
) -> SimulationSummary:
    """Write ``out/events.{jsonl,parquet}``, ``out/labels/*.parquet`` and ``out/scenario.json``.

    Same ``seed`` (and scenario, scale, library) gives the same bytes. ``library``
    defaults to the real corpora; tests pass a small stand-in.
    """
    started = time.perf_counter()
    if fmt not in ("jsonl", "parquet"):
        raise ValueError(f"fmt must be 'jsonl' or 'parquet', not {fmt!r}")
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    sc = sc.scaled(scale)
    lib = library if library is not None else _default_library()
    pool_sizes = {b: len(lib.pools.get(b, ())) for b in EVAL_BENCHES}
    cast = build_cast(sc, seed, pool_sizes)
    out = Path(out)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    paths = OutputPaths(
        events=out / f"events.{fmt}",
        event_labels=out / "labels" / "events.parquet",
        subjects=out / "labels" / "subjects.parquet",
        campaigns=out / "labels" / "campaigns.parquet",
        scenario=out / "scenario.json",
    )
    start_ms = int(sc.start.timestamp() * 1000)
    timeline = TimelineEngine(
        subjects=cast.subjects, start_ms=start_ms, hours=sc.hours,
        window_minutes=sc.window_minutes,
        conv_turns=np.array([len(c) for c in lib.conversations], dtype=np.int64), seed=seed,
    )  # fmt: skip
    renderer = EventRenderer(sc, cast, lib, seed)
    sink = JsonlEventSink(paths.events) if fmt == "jsonl" else ParquetEventSink(paths.events)
    labels = LabelSink(paths.event_labels)
    per_subject = np.zeros(len(cast.subjects), dtype=np.int64)
    total = 0
    try:
        for w in range(timeline.windows()):
            block = timeline.block(w)
            per_subject += np.bincount(block.subject, minlength=len(per_subject))
            for lo in range(0, len(block), CHUNK_ROWS):
                chunk = renderer.render(block.take(np.arange(lo, min(lo + CHUNK_ROWS, len(block)))))
                sink.write(chunk)
                labels.write(chunk)
                total += len(chunk)
            log.debug("window %d: %d events (total %d)", w, len(block), total)
    finally:
        sink.close()
        labels.close()
    n_subjects = _write_subjects(paths.subjects, sc, cast, per_subject)
    _write_campaigns(paths.campaigns, sc, cast, per_subject)
    _write_scenario(paths.scenario, sc, cast, seed, scale)
    seconds = time.perf_counter() - started
    log.info("simulated %d events, %d subjects in %.1fs", total, n_subjects, seconds)
    return SimulationSummary(total, n_subjects, len(sc.campaigns), seconds, paths)


def _write_subjects(path: Path, sc: Scenario, cast: Cast, per_subject: np.ndarray) -> int:
    s, a = cast.subjects, cast.accounts
    live = np.flatnonzero(per_subject > 0)
    camp = s.campaign[live]
    table = pa.Table.from_pydict(
        {
            "account_id": [a.ids[i] for i in s.account[live]],
            "enduser_id": [s.enduser[i] for i in live],
            "population": [POPULATION_LABELS[p] for p in s.population[live]],
            "is_attack": (camp >= 0).tolist(),
            "campaign_id": [cast.campaign_ids[c] if c >= 0 else None for c in camp],
            "strategies": [list(sc.campaigns[c].strategies) if c >= 0 else [] for c in camp],
            "n_events": per_subject[live].tolist(),
        },
        schema=SUBJECT_LABEL_SCHEMA,
    )
    pq.write_table(table, path, compression="zstd")
    return len(live)


def _write_campaigns(path: Path, sc: Scenario, cast: Cast, per_subject: np.ndarray) -> None:
    s = cast.subjects
    rows: dict[str, list[object]] = {f.name: [] for f in CAMPAIGN_LABEL_SCHEMA}
    for ci, c in enumerate(sc.campaigns):
        members = s.campaign == ci
        rows["campaign_id"].append(cast.campaign_ids[ci])
        rows["n_accounts"].append(int((per_subject[members] > 0).sum()))
        rows["target"].append(c.target)
        rows["strategies"].append(list(c.strategies))
        rows["n_events"].append(int(per_subject[members].sum()))
        rows["styles"].append(list(c.styles))
        rows["pools"].append(list(c.pools))
    pq.write_table(
        pa.Table.from_pydict(rows, schema=CAMPAIGN_LABEL_SCHEMA), path, compression="zstd"
    )


def _write_scenario(path: Path, sc: Scenario, cast: Cast, seed: int, scale: float) -> None:
    doc = sc.to_dict()
    start = sc.start.timestamp()
    for rel in doc["releases"]:
        rel["at"] = _iso(start + rel["at_hour"] * 3600.0)
    for ci, camp in enumerate(doc["campaigns"]):
        camp["campaign_id"] = cast.campaign_ids[ci]
        pivot = cast.pivot_hour[ci]
        camp["pivot_at"] = None if pivot == float("inf") else _iso(start + pivot * 3600.0)
    doc.update(seed=seed, scale=scale, schema_fields=list(S.field_names()))
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _iso(epoch_s: float) -> str:
    return np.datetime_as_string(np.datetime64(round(epoch_s * 1000), "ms"), unit="s") + "Z"
