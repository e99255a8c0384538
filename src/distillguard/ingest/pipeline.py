"""Ingest orchestration: sources -> candidates -> checked canonical batches -> store.

Accounting is exact per source: every row read is emitted or quarantined, and
the store reports how many emitted rows were new (the rest are duplicates).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import orjson
import pyarrow as pa

from distillguard import schema as S
from distillguard.ingest.base import IngestSummary, Limits
from distillguard.ingest.fastpath import read_canonical_chunk
from distillguard.ingest.mapping import Mapping
from distillguard.ingest.otlp import is_otlp, otlp_mapping, spans
from distillguard.ingest.quarantine import QuarantineSink
from distillguard.ingest.readers import (
    ByteSource,
    LineChunk,
    SourceSpec,
    expand_sources,
    line_chunks,
)
from distillguard.ingest.rows import Item, RowConverter, Tally, json_depth, parse_lines
from distillguard.ingest.tabular import csv_candidates, parquet_candidates
from distillguard.ingest.validate import Candidate, finalize

if TYPE_CHECKING:
    from distillguard.engines.base import Store

__all__ = ["ingest", "read_events"]

log = logging.getLogger(__name__)


def _format(spec: SourceSpec, byte_source: ByteSource, mapping: Mapping | None) -> str:
    chosen = mapping.format if mapping is not None and mapping.format != "auto" else None
    chosen = chosen or spec.guess_format()
    if chosen is None and byte_source.compressed_head().startswith(b"PAR1"):
        chosen = "parquet"
    if chosen is None:
        head = byte_source.peek(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        chosen = "jsonl" if head[:1] in (b"{", b"[") or not head else "csv"
    if chosen == "jsonl" and is_otlp(byte_source.peek()):
        chosen = "otlp"
    return chosen


class _SourceReader:
    """Reads one source into checked canonical tables; holds only that source's state."""

    def __init__(
        self, spec: SourceSpec, mapping: Mapping | None, limits: Limits, quarantine: QuarantineSink
    ) -> None:
        self.spec = spec
        self.limits = limits
        self.quarantine = quarantine
        self.tally = Tally()
        self.bytes = ByteSource(spec, limits.chunk_bytes)
        self.format = _format(spec, self.bytes, mapping)
        if mapping is None:
            mapping = otlp_mapping() if self.format == "otlp" else Mapping.canonical()
        self.mapping = mapping
        self.converter = RowConverter(mapping, limits)
        self.last_line = 1

    def tables(self) -> Iterator[pa.Table]:
        for candidate in self._candidates():
            table = finalize(
                candidate, source=self.spec.name, limits=self.limits, quarantine=self.quarantine
            )
            if table.num_rows:
                yield table
        for issue in self.bytes.issues:
            self.tally.read += 1
            self.quarantine.add(self.spec.name, self.last_line, issue.reason, issue.detail, "")

    def _candidates(self) -> Iterator[Candidate]:
        common = {
            "converter": self.converter,
            "limits": self.limits,
            "quarantine": self.quarantine,
            "tally": self.tally,
        }
        if self.format == "parquet":
            yield from parquet_candidates(self.bytes, canonical=self.mapping.is_canonical, **common)  # type: ignore[arg-type]
        elif self.format == "csv":
            yield from csv_candidates(self.bytes, **common)  # type: ignore[arg-type]
        else:
            yield from self._json_candidates()

    def _oversized(self, line: int, head: bytes) -> None:
        self.tally.read += 1
        self.quarantine.add(
            self.spec.name,
            line,
            "row_too_large",
            f"line longer than max_row_bytes {self.limits.max_row_bytes}",
            head,
        )

    def _json_candidates(self) -> Iterator[Candidate]:
        otlp = self.format == "otlp"
        if otlp and self._is_single_document():
            yield from self._otlp_document()
            return
        if not otlp and self.bytes.peek(4096).lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"[":
            document = self._array_document()
            if document is not None:
                yield from document
                return
        chunks = line_chunks(self.bytes.blocks(), self.limits.max_row_bytes, self._oversized)
        last = LineChunk(1, b"", np.empty(0, dtype=np.int64))
        for last in chunks:
            first_line, chunk = last.first_line, last.data
            candidate = None
            if self.mapping.is_canonical and not otlp:
                candidate = read_canonical_chunk(chunk, first_line, self.limits, last.newlines)
            if candidate is not None:
                self.tally.read += candidate.table.num_rows
                yield candidate
                continue
            items = parse_lines(
                chunk,
                first_line,
                source=self.spec.name,
                limits=self.limits,
                quarantine=self.quarantine,
                tally=self.tally,
            )
            candidate = self.converter.convert(
                self._expand_spans(items) if otlp else items,
                source=self.spec.name,
                quarantine=self.quarantine,
            )
            if candidate is not None:
                yield candidate
        # Where a file-level issue is reported: the line after the last one read.
        self.last_line = last.first_line + last.newlines.size

    def _expand_spans(self, items: Iterator[Item]) -> Iterator[Item]:
        for line, document, raw in items:
            found = list(spans(document))
            self.tally.read += len(found) - 1  # the line was counted once; its spans are rows
            for span in found:
                yield line, span, raw

    def _is_single_document(self) -> bool:
        head = self.bytes.peek()
        if b"\n" not in head.strip():
            return False  # a first line longer than the peek: JSON lines, far more common
        first = head.split(b"\n", 1)[0].strip()
        if not first:
            return False
        try:
            orjson.loads(first)
        except orjson.JSONDecodeError:
            return len(head) > len(first)  # more text follows: one multi-line document
        return False

    def _whole(self, cap: int) -> bytes | None:
        """The whole decompressed source, or None if it is larger than ``cap``."""
        parts: list[bytes] = []
        size = 0
        for block in self.bytes.blocks():
            parts.append(block)
            size += len(block)
            if size > cap:
                return None
        return b"".join(parts)

    def _array_document(self) -> Iterator[Candidate] | None:
        """A file holding one JSON array of records; rows are numbered by element.

        None (read it as JSON lines) if it is not one array or is too big to hold.
        """
        data = self._whole(self.limits.max_row_bytes)
        if data is None:
            self.bytes.issues.clear()
            return None
        try:
            document = orjson.loads(data.removeprefix(b"\xef\xbb\xbf"))
        except orjson.JSONDecodeError:
            document = None
        if not isinstance(document, list):
            self.bytes.issues.clear()
            return None
        self.last_line = len(document) + 1
        return iter(
            [
                c
                for c in [
                    self.converter.convert(
                        self._elements(document), source=self.spec.name, quarantine=self.quarantine
                    )
                ]
                if c is not None
            ]
        )

    def _elements(self, document: list[object]) -> Iterator[Item]:
        for number, element in enumerate(document, start=1):
            self.tally.read += 1
            raw = orjson.dumps(element)[:4096]
            if not isinstance(element, dict):
                self.quarantine.add(
                    self.spec.name,
                    number,
                    "not_an_object",
                    f"array element is {type(element).__name__}",
                    raw,
                )
                continue
            if json_depth(element) > self.limits.max_depth:
                self.quarantine.add(
                    self.spec.name,
                    number,
                    "too_deep",
                    f"nesting deeper than max_depth {self.limits.max_depth}",
                    raw,
                )
                continue
            yield number, element, raw

    def _otlp_document(self) -> Iterator[Candidate]:
        data = self._whole(self.limits.max_row_bytes)
        if data is None:
            self._oversized(1, b"")
            return
        items = parse_lines(
            data.replace(b"\r", b"").replace(b"\n", b" "),
            1,
            source=self.spec.name,
            limits=self.limits,
            quarantine=self.quarantine,
            tally=self.tally,
        )
        candidate = self.converter.convert(
            self._expand_spans(items), source=self.spec.name, quarantine=self.quarantine
        )
        self.last_line = data.count(b"\n") + 1
        if candidate is not None:
            yield candidate


def _sink(quarantine: QuarantineSink | Path | None, strict: bool, limits: Limits) -> QuarantineSink:
    if isinstance(quarantine, QuarantineSink):
        return quarantine
    return QuarantineSink(quarantine, strict=strict, limits=limits)


class _Run:
    """Counts of one ingest run across its sources (the tally of the current one is live)."""

    def __init__(self) -> None:
        self.read_done = 0
        self.current: Tally | None = None
        self.names: list[str] = []

    @property
    def read(self) -> int:
        return self.read_done + (self.current.read if self.current else 0)


def _read(
    sources: Sequence[str | Path],
    mapping: Mapping | None,
    limits: Limits,
    sink: QuarantineSink,
    run: _Run,
) -> Iterator[pa.Table]:
    for spec in expand_sources(sources):
        log.info("ingesting %s", spec.name)
        run.names.append(spec.name)
        before = sink.count
        emitted = 0
        reader = _SourceReader(spec, mapping, limits, sink)
        run.current = reader.tally
        for table in reader.tables():
            emitted += table.num_rows
            yield table
        run.current = None
        run.read_done += reader.tally.read
        quarantined = sink.count - before
        if reader.tally.read != emitted + quarantined:
            log.error(
                "accounting mismatch in %s: read %d, emitted %d, quarantined %d",
                spec.name,
                reader.tally.read,
                emitted,
                quarantined,
            )


# Rows per store append. Each append runs a few statements and scans the store's key
# hashes, so one append per parsed chunk (~9k rows, 105 for 948k events) repeats that work;
# at 32k rows the batches in flight (inserting, queued, being built) stay ~200 MB.
_APPEND_ROWS = 32_768


def _batched(tables: Iterator[pa.Table], rows: int) -> Iterator[pa.Table]:
    """Tables joined (without copying) until each holds at least ``rows`` rows."""
    pending: list[pa.Table] = []
    held = 0
    for table in tables:
        pending.append(table.cast(S.EVENT_SCHEMA))
        held += table.num_rows
        if held >= rows:
            yield pa.concat_tables(pending)
            pending, held = [], 0
    if pending:
        yield pa.concat_tables(pending)


_DONE = object()


def _prefetch(items: Iterator[pa.Table], depth: int = 2) -> Iterator[pa.Table]:
    """Run ``items`` in a thread, ``depth`` tables ahead: parsing (Arrow, GIL released)
    overlaps the store's insert. Memory stays bounded by ``depth`` batches."""
    box: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        box.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put(_DONE)
        except BaseException as exc:  # handed to the consumer, re-raised there
            box.put(exc)

    worker = threading.Thread(target=produce, name="ingest-reader", daemon=True)
    worker.start()
    try:
        while True:
            item = box.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            try:
                box.get(timeout=0.1)
            except queue.Empty:
                continue
        worker.join()


def read_events(
    sources: Sequence[str | Path],
    mapping: Mapping | None = None,
    strict: bool = False,
    quarantine: QuarantineSink | Path | None = None,
    *,
    limits: Limits | None = None,
) -> Iterator[pa.RecordBatch]:
    """Canonical event batches (``schema.EVENT_SCHEMA``) of ``sources``, without a store.

    ``quarantine`` is a sink, a path for the quarantine JSONL, or None (counted only).
    """
    limits = limits or Limits()
    sink = _sink(quarantine, strict, limits)
    try:
        for table in _read(sources, mapping, limits, sink, _Run()):
            # One batch per chunk (~10k events), not the ~1 MiB pieces Arrow parsed it in.
            yield from table.combine_chunks().to_batches()
    finally:
        if not isinstance(quarantine, QuarantineSink):
            sink.close()


def ingest(
    sources: Sequence[str | Path],
    *,
    store: Store,
    mapping: Mapping | None = None,
    strict: bool = False,
    quarantine_path: Path | None = None,
    on_progress: Callable[[int], None] | None = None,
    limits: Limits | None = None,
) -> IngestSummary:
    """Read ``sources`` into ``store``; bad rows go to ``quarantine_path`` (rewritten).

    ``on_progress(n)`` is told the number of rows read since its last call.
    """
    limits = limits or Limits()
    if quarantine_path is not None and quarantine_path.exists():
        quarantine_path.unlink()
    sink = QuarantineSink(quarantine_path, strict=strict, limits=limits)
    run = _Run()
    stored = duplicate = reported = 0
    with sink:
        # One batch in the queue is enough: the reader builds the next while one waits.
        batches = _batched(_read(sources, mapping, limits, sink, run), _APPEND_ROWS)
        for table in _prefetch(batches, depth=1):
            inserted = store.append(table)
            stored += inserted
            duplicate += table.num_rows - inserted
            if on_progress is not None:
                on_progress(run.read - reported)
                reported = run.read
        if on_progress is not None and run.read > reported:
            on_progress(run.read - reported)
    summary = IngestSummary(
        rows_read=run.read,
        rows_stored=stored,
        rows_duplicate=duplicate,
        rows_quarantined=sink.count,
        quarantined_by_reason=dict(sink.by_reason),
        sources=tuple(run.names),
    )
    log.info("ingest done: %s", summary)
    return summary
