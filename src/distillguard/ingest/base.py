"""Contracts of the ingest part: reason codes, limits, the summary and the error.

Error hierarchy::

    ValueError
     └── IngestError        a bad row in strict mode, or an unusable mapping/source

Bad input is data: every row that cannot become an event is written to the
quarantine file with one of the stable :data:`REASONS` codes. Accounting is
exact for every source: ``rows_read == rows_stored + rows_duplicate +
rows_quarantined``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = [
    "REASONS",
    "IngestError",
    "IngestSummary",
    "Limits",
]

#: Stable quarantine reason codes (documented in docs/ingest.md). Never rename one.
REASONS: dict[str, str] = {
    "malformed_json": "the line is not valid JSON",
    "not_an_object": "the line is valid JSON but not an object",
    "invalid_utf8": "the row is not valid UTF-8",
    "row_too_large": "the raw row is larger than Limits.max_row_bytes",
    "too_deep": "JSON nesting deeper than Limits.max_depth",
    "wrong_type": "a field value cannot be coerced to the canonical type",
    "missing_required": "timestamp, account id or prompt text is missing",
    "absurd_timestamp": "timestamp outside [Limits.min_year, Limits.max_year)",
    "absurd_value": "a count is negative or beyond Limits.max_count, or top_p/temperature "
    "out of range",
    "prompt_too_large": "prompt text larger than Limits.max_prompt_bytes",
    "malformed_row": "a CSV row with the wrong number of fields",
    "truncated_input": "the (compressed) input ends mid-stream; rows before the cut are kept",
    "file_changed": "the file grew or shrank while it was read; the size at open was read",
    "unreadable_source": "the file cannot be decoded as its format (e.g. corrupt Parquet)",
}


class IngestError(ValueError):
    """A bad row in strict mode (``file:line: reason: detail``) or an unusable input."""


@dataclass(frozen=True)
class Limits:
    """Guards against absurd or hostile input. Rows past a limit are quarantined."""

    # A 1M-token context is ~4 MB of text; anything beyond 8 MiB is not a real prompt.
    max_prompt_bytes: int = 8 * 1024 * 1024
    max_row_bytes: int = 32 * 1024 * 1024
    # Real chat payloads nest < 10 levels; 64 leaves room and stops depth bombs early.
    max_depth: int = 64
    min_year: int = 2000
    max_year: int = 2100
    # No single request bills 1e9 tokens; larger counts are corrupt.
    max_count: int = 1_000_000_000
    max_raw_chars: int = 2000  # raw text kept per quarantined row
    # Bytes read and parsed at a time: bounds memory (~3x this per batch in flight).
    chunk_bytes: int = 16 * 1024 * 1024

    def __post_init__(self) -> None:
        if (
            min(
                self.max_prompt_bytes,
                self.max_row_bytes,
                self.max_depth,
                self.max_raw_chars,
                self.chunk_bytes,
            )
            <= 0
        ):
            raise ValueError("Limits must be positive")
        if self.min_year >= self.max_year:
            raise ValueError("Limits.min_year must be below max_year")

    @property
    def min_ts_us(self) -> int:
        return _epoch_us(self.min_year)

    @property
    def max_ts_us(self) -> int:
        return _epoch_us(self.max_year)


def _epoch_us(year: int) -> int:
    return int(datetime(year, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000


@dataclass(frozen=True)
class IngestSummary:
    """What one ingest did; ``rows_read`` always balances the other three counts."""

    rows_read: int
    rows_stored: int
    rows_duplicate: int
    rows_quarantined: int
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    sources: tuple[str, ...] = ()

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.rows_stored + self.rows_duplicate + self.rows_quarantined

    def as_dict(self) -> dict[str, object]:
        return {
            "rows_read": self.rows_read,
            "rows_stored": self.rows_stored,
            "rows_duplicate": self.rows_duplicate,
            "rows_quarantined": self.rows_quarantined,
            "quarantined_by_reason": dict(self.quarantined_by_reason),
            "sources": list(self.sources),
        }
