"""CSV and Parquet sources: rows into candidates (vectorised cast, or the per-row path)."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from distillguard import schema as S
from distillguard.ingest.base import Limits
from distillguard.ingest.quarantine import QuarantineSink
from distillguard.ingest.readers import BlockReader, ByteSource
from distillguard.ingest.rows import Item, RowConverter, Tally
from distillguard.ingest.validate import Candidate

__all__ = ["BATCH_ROWS", "cast_canonical", "csv_candidates", "parquet_candidates"]

log = logging.getLogger(__name__)

BATCH_ROWS = 65_536


def _castable(source: pa.DataType, target: pa.DataType) -> bool:
    if source == target:
        return True
    if pa.types.is_timestamp(target):
        return pa.types.is_timestamp(source)
    if pa.types.is_integer(target):
        return pa.types.is_integer(source)
    if pa.types.is_floating(target):
        return pa.types.is_integer(source) or pa.types.is_floating(source)
    if pa.types.is_string(target):
        return pa.types.is_large_string(source) or pa.types.is_string_view(source)
    if pa.types.is_list(target):
        return (pa.types.is_list(source) or pa.types.is_large_list(source)) and _castable(
            source.value_type, target.value_type
        )
    return False


def cast_canonical(batch: pa.RecordBatch) -> pa.Table | None:
    """A batch already in canonical names and compatible types, cast losslessly; else None."""
    names = set(batch.schema.names)
    arrays = []
    for f in S.FIELDS:
        if f.name not in names:
            arrays.append(pa.nulls(batch.num_rows, f.arrow_type))
            continue
        column = batch.column(f.name)
        if not _castable(column.type, f.arrow_type):
            return None
        try:
            # Timestamps may be ns in Parquet; dropping sub-microsecond digits is intended.
            arrays.append(column.cast(f.arrow_type, safe=not pa.types.is_timestamp(column.type)))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
    return pa.Table.from_arrays(arrays, schema=S.EVENT_SCHEMA)


def parquet_candidates(
    byte_source: ByteSource,
    *,
    converter: RowConverter,
    canonical: bool,
    limits: Limits,
    quarantine: QuarantineSink,
    tally: Tally,
) -> Iterator[Candidate]:
    name = byte_source.spec.name
    compressed = byte_source.spec.path is None or byte_source.compressed_head().startswith(
        (b"\x1f\x8b", b"\x28\xb5\x2f\xfd")
    )
    # Parquet needs random access: compressed files and stdin are read into memory first.
    target = io.BytesIO(b"".join(byte_source.blocks())) if compressed else byte_source.spec.path
    row = 1
    try:
        # pre_buffer (the default) keeps every column chunk read so far: memory grew with the
        # file (~0.4 GB per million events); without it, one batch at a time.
        reader = pq.ParquetFile(target, pre_buffer=False)
        for batch in reader.iter_batches(batch_size=BATCH_ROWS):
            first, row = row, row + batch.num_rows
            tally.read += batch.num_rows
            table = cast_canonical(batch) if canonical else None
            if table is not None:
                yield Candidate(table, range(first, row), _row_raw(batch))
                continue
            records = batch.to_pylist()
            items: Iterator[Item] = ((first + i, record, "") for i, record in enumerate(records))
            candidate = converter.convert(_with_raw(items), source=name, quarantine=quarantine)
            if candidate is not None:
                yield candidate
    except (OSError, pa.ArrowException) as exc:
        tally.read += 1
        quarantine.add(name, row, "unreadable_source", f"not readable as Parquet: {exc}", "")


def _row_raw(batch: pa.RecordBatch) -> Callable[[int], str]:
    def raw(row: int) -> str:
        return str(batch.slice(row, 1).to_pylist()[0])

    return raw


def _with_raw(items: Iterator[Item]) -> Iterator[Item]:
    for line, record, _ in items:
        yield line, record, str(record)[:4096]


def csv_candidates(
    byte_source: ByteSource,
    *,
    converter: RowConverter,
    limits: Limits,
    quarantine: QuarantineSink,
    tally: Tally,
) -> Iterator[Candidate]:
    """Rows of a CSV (or TSV) file with a header line; empty cells are nulls."""
    name = byte_source.spec.name
    delimiter = "\t" if ".tsv" in byte_source.spec.suffixes else ","
    text = io.TextIOWrapper(
        io.BufferedReader(BlockReader(byte_source.blocks())),
        encoding="utf-8-sig",
        errors="surrogateescape",
        newline="",
    )
    # The csv module only has a process-wide field limit; raise it (never lower it) so
    # that a long prompt is a row, and row_too_large stays our check, not csv's.
    csv.field_size_limit(max(csv.field_size_limit(), limits.max_row_bytes))
    reader = csv.reader(text, delimiter=delimiter)
    header: list[str] | None = None
    batch: list[Item] = []
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            tally.read += 1
            quarantine.add(name, start, "malformed_row", f"CSV error: {exc}", "")
            continue
        if not row:
            continue
        raw = delimiter.join(row)
        if header is None:
            header = row
            continue
        tally.read += 1
        try:
            raw.encode("utf-8")
        except UnicodeEncodeError as exc:
            quarantine.add(name, start, "invalid_utf8", str(exc), raw.encode("utf-8", "replace"))
            continue
        if len(raw) > limits.max_row_bytes:
            quarantine.add(
                name,
                start,
                "row_too_large",
                f"{len(raw)} characters > max_row_bytes {limits.max_row_bytes}",
                raw,
            )
            continue
        if len(row) != len(header):
            quarantine.add(
                name, start, "malformed_row", f"{len(row)} fields, header has {len(header)}", raw
            )
            continue
        record = {
            key: (value if value != "" else None) for key, value in zip(header, row, strict=True)
        }
        batch.append((start, record, raw))
        if len(batch) >= BATCH_ROWS:
            candidate = converter.convert(batch, source=name, quarantine=quarantine)
            batch = []
            if candidate is not None:
                yield candidate
    if batch:
        candidate = converter.convert(batch, source=name, quarantine=quarantine)
        if candidate is not None:
            yield candidate
