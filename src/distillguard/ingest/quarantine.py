"""The quarantine sink: where rows that cannot become events go, with their reason."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import IO

import orjson

from distillguard.closing import Closing
from distillguard.ingest.base import REASONS, IngestError, Limits
from distillguard.records import QuarantinedRow

__all__ = ["QuarantineSink", "raw_text"]

log = logging.getLogger(__name__)


def raw_text(raw: bytes | str, limits: Limits) -> str:
    """The offending input as text, truncated; invalid UTF-8 shown with replacement chars."""
    if isinstance(raw, bytes):
        raw = raw[: limits.max_raw_chars * 4].decode("utf-8", errors="replace")
    return raw[: limits.max_raw_chars]


class QuarantineSink(Closing):
    """Counts bad rows by reason and appends them to a JSONL file (if a path is given).

    In strict mode the first bad row raises :class:`IngestError` instead.
    """

    def __init__(
        self, path: Path | None = None, *, strict: bool = False, limits: Limits | None = None
    ) -> None:
        self.path = path
        self.strict = strict
        self.limits = limits or Limits()
        self.by_reason: Counter[str] = Counter()
        self._file: IO[bytes] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("ab")

    @property
    def count(self) -> int:
        return sum(self.by_reason.values())

    def add(self, source: str, line: int, reason: str, detail: str, raw: bytes | str) -> None:
        if reason not in REASONS:
            raise AssertionError(f"unregistered quarantine reason {reason!r}")
        if self.strict:
            raise IngestError(f"{source}:{line}: {reason}: {detail}")
        row = QuarantinedRow(source, line, reason, detail, raw_text(raw, self.limits))
        self.by_reason[reason] += 1
        log.debug("quarantined %s:%d %s", source, line, reason)
        if self._file is not None:
            self._file.write(
                orjson.dumps(
                    {
                        "source": row.source,
                        "line": row.line,
                        "reason": row.reason,
                        "detail": row.detail,
                        "raw": row.raw,
                    }
                )
                + b"\n"
            )

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
