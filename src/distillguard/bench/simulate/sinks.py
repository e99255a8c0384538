"""Sinks that stream rendered chunks to disk: JSONL or Parquet events, Parquet labels.

Memory is bounded by one chunk: nothing is kept after a chunk is written.
JSONL rows omit null fields (as real request logs do); Parquet carries the full
canonical schema (``schema.EVENT_SCHEMA``).
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from distillguard import schema as S
from distillguard.bench.simulate.render import RenderedChunk

__all__ = ["EVENT_LABEL_SCHEMA", "JsonlEventSink", "LabelSink", "ParquetEventSink"]

EVENT_LABEL_SCHEMA = pa.schema([
    pa.field(S.EVENT_KEY, pa.string()),
    pa.field(S.ACCOUNT, pa.string()),
    pa.field(S.ENDUSER, pa.string()),
    pa.field("campaign_id", pa.string()),
    pa.field("population", pa.string()),
    pa.field("style", pa.string()),
])  # fmt: skip


class JsonlEventSink:
    """Canonical dotted keys, one request per line, nulls omitted."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[bytes] = path.open("wb")

    def write(self, chunk: RenderedChunk) -> None:
        names = list(chunk.columns)
        cols = [chunk.columns[k] for k in names]
        dumps = orjson.dumps
        lines = []
        for row in zip(*cols, strict=True):
            lines.append(dumps({k: v for k, v in zip(names, row, strict=True) if v is not None}))
            if len(lines) == 5000:  # keep the encoded buffer small
                self._fh.write(b"\n".join(lines) + b"\n")
                lines = []
        if lines:
            self._fh.write(b"\n".join(lines) + b"\n")

    def close(self) -> None:
        self._fh.close()


class ParquetEventSink:
    """The full canonical schema; one row group per chunk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer = pq.ParquetWriter(path, S.EVENT_SCHEMA, compression="zstd")

    def write(self, chunk: RenderedChunk) -> None:
        arrays = []
        for f in S.EVENT_SCHEMA:
            if f.name == S.TIMESTAMP:
                arrays.append(_ts(chunk.ts_ms))
            elif f.name == S.ACCOUNT_CREATED:
                arrays.append(_ts(chunk.created_ms))
            else:
                arrays.append(pa.array(chunk.columns[f.name], type=f.type))
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=S.EVENT_SCHEMA))

    def close(self) -> None:
        self._writer.close()


def _ts(ms: np.ndarray) -> pa.Array:
    return pa.array(ms.astype(np.int64) * 1000, type=pa.timestamp("us", tz="UTC"))


class LabelSink:
    """Per-event ground truth: event key, subject, campaign_id or null, population."""

    def __init__(self, path: Path) -> None:
        self._writer = pq.ParquetWriter(path, EVENT_LABEL_SCHEMA, compression="zstd")

    def write(self, chunk: RenderedChunk) -> None:
        data: dict[str, Any] = {f.name: chunk.labels[f.name] for f in EVENT_LABEL_SCHEMA}
        self._writer.write_table(pa.Table.from_pydict(data, schema=EVENT_LABEL_SCHEMA))

    def close(self) -> None:
        self._writer.close()
