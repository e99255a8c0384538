"""The Store contract: what every engine (DuckDB now, Spark later) must provide.

A store only moves data: it holds canonical events (``schema.EVENT_SCHEMA``
columns), deduplicates on ``distillguard.event.key`` and streams them back.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import polars as pl
import pyarrow as pa

__all__ = ["Store"]


@runtime_checkable
class Store(Protocol):
    def append(self, table: pa.Table) -> int:
        """Add canonical events; returns how many were new (the rest were duplicates)."""
        ...

    def count(self) -> int:
        """Number of events held."""
        ...

    def scan(
        self,
        columns: Sequence[str] | None = None,
        batch_size: int = 65_536,
        *,
        ordered: bool = True,
    ) -> Iterator[pl.DataFrame]:
        """Events in time order (ties by event key), ``batch_size`` rows at a time.

        ``columns=None`` means every canonical column. ``ordered=False``: in storage order,
        streamed without a sort (batches may be smaller than ``batch_size``).
        """
        ...

    def export_parquet(self, path: Path) -> None:
        """Write every event to one Parquet file."""
        ...

    def close(self) -> None: ...
