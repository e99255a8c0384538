"""Byte-level readers: which files, how to decompress them, and how to cut them into lines.

Everything here streams: a file is read in blocks, never whole. File-level
problems (a cut compressed stream, a file that changed while read) are reported
as :class:`SourceIssue` and become one quarantined row each.
"""

from __future__ import annotations

import glob
import io
import logging
import os
import sys
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NamedTuple

import numpy as np

__all__ = [
    "BLOCK_BYTES",
    "ByteSource",
    "LineChunk",
    "SourceIssue",
    "SourceSpec",
    "expand_sources",
    "line_chunks",
    "newline_offsets",
]

log = logging.getLogger(__name__)

BLOCK_BYTES = 16 * 1024 * 1024  # default read size (Limits.chunk_bytes)
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_PARQUET_MAGIC = b"PAR1"
_BOM = b"\xef\xbb\xbf"
_KNOWN_SUFFIXES = {
    ".jsonl",
    ".ndjson",
    ".json",
    ".log",
    ".txt",
    ".csv",
    ".tsv",
    ".parquet",
    ".pq",
    ".gz",
    ".zst",
    ".zstd",
}


@dataclass(frozen=True)
class SourceSpec:
    """One input: a file path, or ``-`` for standard input."""

    name: str
    path: Path | None  # None for stdin

    @property
    def suffixes(self) -> list[str]:
        if self.path is None:
            return []
        return [s.lower() for s in self.path.suffixes]

    def guess_format(self) -> str | None:
        """Format from the file name, ignoring a compression suffix; None if unknown."""
        names = [s for s in self.suffixes if s not in (".gz", ".zst", ".zstd")]
        last = names[-1] if names else ""
        if last in (".parquet", ".pq"):
            return "parquet"
        if last in (".csv", ".tsv"):
            return "csv"
        if last in (".jsonl", ".ndjson", ".json", ".log", ".txt"):
            return "jsonl"
        return None


def expand_sources(sources: Sequence[str | Path]) -> list[SourceSpec]:
    """Files, directories (recursive, sorted) and globs, in order; ``-`` is stdin.

    A path that matches nothing raises FileNotFoundError (a typo must not pass
    silently as an empty ingest).
    """
    specs: list[SourceSpec] = []
    for source in sources:
        text = str(source)
        if text == "-":
            specs.append(SourceSpec("-", None))
            continue
        path = Path(text)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and not p.name.startswith(".")
                and p.suffix.lower() in _KNOWN_SUFFIXES
            )
            specs += [SourceSpec(str(p), p) for p in found]
        elif path.is_file():
            specs.append(SourceSpec(text, path))
        elif glob.has_magic(text):
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True))
            if not matches:
                raise FileNotFoundError(f"no input matches {text!r}")
            specs += [SourceSpec(str(p), p) for p in matches if p.is_file()]
        else:
            raise FileNotFoundError(f"input not found: {text}")
    return specs


@dataclass(frozen=True)
class SourceIssue:
    """A problem with a whole source, at the line where it showed."""

    reason: str
    detail: str


@dataclass
class ByteSource:
    """Decompressed bytes of one source, block by block.

    A regular file is read up to its size at open (a consistent snapshot); if
    the size differs at the end, a ``file_changed`` issue is recorded.
    """

    spec: SourceSpec
    block_bytes: int = BLOCK_BYTES
    issues: list[SourceIssue] = field(default_factory=list)
    _head: bytes = b""

    _stdin_first: bytes | None = None

    def _raw(self) -> tuple[IO[bytes], int | None]:
        if self.spec.path is None:
            # stdin cannot be re-read: keep its first block so sniffing can replay it.
            if self._stdin_first is None:
                self._stdin_first = sys.stdin.buffer.read(self.block_bytes)
            return sys.stdin.buffer, None
        handle = self.spec.path.open("rb")
        return handle, os.fstat(handle.fileno()).st_size

    def peek(self, n: int = 65536) -> bytes:
        """The first ``n`` decompressed bytes (used to sniff the format)."""
        if not self._head:
            for block in self.blocks(limit=n):
                self._head += block
                if len(self._head) >= n:
                    break
            self.issues.clear()
        return self._head[:n]

    def compressed_head(self) -> bytes:
        if self.spec.path is None:
            self._raw()
            return (self._stdin_first or b"")[:4]
        with self.spec.path.open("rb") as handle:
            return handle.read(4)

    def blocks(self, limit: int | None = None) -> Iterator[bytes]:
        handle, size = self._raw()
        raw = self._snapshot(handle, size)
        if self.spec.path is None and limit is not None:
            raw = iter([self._stdin_first or b""])  # sniffing must not consume stdin
        try:
            yield from self._decoded(raw, limit)
        finally:
            if handle is not sys.stdin.buffer:
                handle.close()

    def _snapshot(self, handle: IO[bytes], size: int | None) -> Iterator[bytes]:
        remaining = size
        if size is None and self._stdin_first:
            yield self._stdin_first
        while remaining is None or remaining > 0:
            want = self.block_bytes if remaining is None else min(self.block_bytes, remaining)
            block = handle.read(want)
            if not block:
                break
            if remaining is not None:
                remaining -= len(block)
            yield block
        if size is not None:
            now = os.fstat(handle.fileno()).st_size
            if remaining or now != size:
                self.issues.append(
                    SourceIssue(
                        "file_changed",
                        f"size was {size} bytes at open, {now} at the end of reading",
                    )
                )

    def _decoded(self, raw: Iterator[bytes], limit: int | None) -> Iterator[bytes]:
        first = next(raw, b"")
        if first.startswith(_GZIP_MAGIC):
            yield from self._inflate(first, raw, limit)
        elif first.startswith(_ZSTD_MAGIC):
            yield from self._unzstd(first, raw, limit)
        else:
            if first:
                yield first
            yield from raw

    def _inflate(self, first: bytes, raw: Iterator[bytes], limit: int | None) -> Iterator[bytes]:
        out = 0
        pending = first
        while True:
            inflater = zlib.decompressobj(wbits=31)  # gzip; concatenated members loop
            try:
                while True:
                    data = inflater.decompress(pending, self.block_bytes)
                    pending = inflater.unconsumed_tail
                    if data:
                        out += len(data)
                        yield data
                        if limit is not None and out >= limit:
                            return
                    if inflater.eof:
                        break
                    if not pending:
                        pending = next(raw, b"")
                        if not pending:
                            self.issues.append(
                                SourceIssue(
                                    "truncated_input", "gzip stream ends before its end marker"
                                )
                            )
                            return
            except zlib.error as exc:
                self.issues.append(SourceIssue("truncated_input", f"corrupt gzip stream: {exc}"))
                return
            pending = inflater.unused_data or next(raw, b"")
            if not pending:
                return

    def _unzstd(self, first: bytes, raw: Iterator[bytes], limit: int | None) -> Iterator[bytes]:
        import zstandard

        out = 0
        decompressor = zstandard.ZstdDecompressor().decompressobj()
        chunk = first
        try:
            while chunk:
                data = decompressor.decompress(chunk)
                if data:
                    out += len(data)
                    yield data
                    if limit is not None and out >= limit:
                        return
                chunk = next(raw, b"")
        except zstandard.ZstdError as exc:
            self.issues.append(SourceIssue("truncated_input", f"corrupt zstd stream: {exc}"))
            return
        if not decompressor.eof:
            self.issues.append(
                SourceIssue("truncated_input", "zstd stream ends before the end of its frame")
            )


OnOversized = Callable[[int, bytes], None]


class LineChunk(NamedTuple):
    """Whole lines of a source: the first one's number, the bytes, and every newline's offset."""

    first_line: int
    data: bytes
    newlines: np.ndarray


def newline_offsets(data: bytes) -> np.ndarray:
    """Offsets of every ``\\n`` in ``data``.

    A ``bytes.find`` loop runs memchr from line to line: on 16 MiB of 2 KB lines it
    measured 4.5 ms, against 9 ms for NumPy's compare-and-nonzero and 28 ms for
    ``bytes.count`` (which would only count). Short lines make the loop slow and its
    list large, so past one line per 256 bytes NumPy takes over.
    """
    found: list[int] = []
    find, add = data.find, found.append
    most = len(data) // 256
    at = find(b"\n")
    while at >= 0:
        if len(found) > most:
            return np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 0x0A)
        add(at)
        at = find(b"\n", at + 1)
    return np.array(found, dtype=np.int64)


def line_chunks(
    blocks: Iterator[bytes], max_line_bytes: int, on_oversized: OnOversized
) -> Iterator[LineChunk]:
    """Cut a byte stream into chunks of whole lines.

    A UTF-8 BOM at the start is dropped. A line longer than ``max_line_bytes``
    is skipped without being buffered whole; ``on_oversized(line, head)`` is told
    and the line number stays exact. The last chunk may lack a final newline.
    """
    line = 1
    carry = b""
    skipping = False  # inside an oversized line: drop bytes until its newline
    skip_line = 0
    skip_head = b""
    first = True
    for block in blocks:
        if first:
            first = False
            if block.startswith(_BOM):
                block = block[len(_BOM) :]
        if skipping:
            cut = block.find(b"\n")
            if cut < 0:
                continue
            on_oversized(skip_line, skip_head)
            skipping = False
            line += 1
            block = block[cut + 1 :]
        cut = block.rfind(b"\n")
        if cut < 0:
            carry += block
        else:
            # One copy at most: the carried head joined to the block's whole lines.
            chunk = (
                block
                if not carry and cut == len(block) - 1
                else b"".join((carry, memoryview(block)[: cut + 1]))
            )
            carry = block[cut + 1 :]
            newlines = newline_offsets(chunk)
            yield LineChunk(line, chunk, newlines)
            line += newlines.size
        if len(carry) > max_line_bytes:
            skipping, skip_line, skip_head, carry = True, line, carry[:4096], b""
    if skipping:
        on_oversized(skip_line, skip_head)
    elif carry:
        yield LineChunk(line, carry, newline_offsets(carry))


class BlockReader(io.RawIOBase):
    """A read-only file object over an iterator of byte blocks (for csv/parquet readers)."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks = blocks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer:
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._buffer = block
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n
