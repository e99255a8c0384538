"""Sample rows and checks shared by the ingest tests (the accounting check used everywhere)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pyarrow as pa

from distillguard import schema as S
from distillguard.ingest import IngestSummary


def event(i: int, **extra: Any) -> dict[str, Any]:
    """A small valid canonical event."""
    row: dict[str, Any] = {
        S.TIMESTAMP: f"2026-03-01T12:{i // 60 % 60:02d}:{i % 60:02d}Z",
        S.ACCOUNT: f"acct_{i % 5}",
        S.PROMPT: f"Solve step by step: {i}*7",
        S.REQUEST_ID: f"req_{i}",
        S.MODEL: "frontier-2",
        S.INPUT_TOKENS: 10 + i,
        S.FINISH_REASONS: ["stop"],
    }
    row.update(extra)
    return row


def jsonl(rows: Sequence[object]) -> bytes:
    out = []
    for row in rows:
        if isinstance(row, str):
            out.append(row.encode())
        elif isinstance(row, bytes):
            out.append(row)
        else:
            out.append(orjson.dumps(row))
    return b"\n".join(out) + b"\n"


def assert_balanced(summary: IngestSummary) -> None:
    assert summary.rows_read == (
        summary.rows_stored + summary.rows_duplicate + summary.rows_quarantined
    ), summary
    assert sum(summary.quarantined_by_reason.values()) == summary.rows_quarantined


def quarantine_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line]


def table_of(batches: Iterator[pa.RecordBatch]) -> pa.Table:
    return pa.Table.from_batches(list(batches), schema=S.EVENT_SCHEMA)


class MemoryStore:
    """A minimal in-memory Store for tests that only need the accounting."""

    def __init__(self) -> None:
        self.keys: set[str] = set()

    def append(self, table: pa.Table) -> int:
        before = len(self.keys)
        self.keys.update(table[S.EVENT_KEY].to_pylist())
        return len(self.keys) - before

    def count(self) -> int:
        return len(self.keys)

    def scan(
        self, columns: Sequence[str] | None = None, batch_size: int = 65_536
    ) -> Iterator[pl.DataFrame]:
        raise NotImplementedError

    def export_parquet(self, path: Path) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.keys.clear()
