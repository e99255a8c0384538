"""The vectorised path for canonical JSONL: a whole chunk of lines parsed by Arrow.

The chunk is first measured with NumPy (line bounds, blank lines, line shape)
so that Arrow never sees a line that could hurt it (too long, not one object).
Nesting depth is not pre-checked: bracket counts on raw bytes are fooled by code
in prompts, and Arrow parses a million-deep array without harm (tested); a deep
value in a canonical field fails its type and sends the chunk to the per-row
path, while unknown fields are dropped whatever their depth. If Arrow rejects
the chunk for any reason (a malformed line, a value of the wrong type, invalid
UTF-8) the caller falls back to the per-row path for
that chunk only, which finds and quarantines the bad lines; line numbers stay
exact either way.
"""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
import pyarrow.json as pj

from distillguard import schema as S
from distillguard.ingest.base import Limits
from distillguard.ingest.readers import newline_offsets
from distillguard.ingest.validate import Candidate

__all__ = ["read_canonical_chunk"]

log = logging.getLogger(__name__)

_PARSE = pj.ParseOptions(explicit_schema=S.EVENT_SCHEMA, unexpected_field_behavior="ignore")


def _content_lines(
    chunk: bytes, data: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> np.ndarray:
    """Indices of the lines that hold something (Arrow skips whitespace-only lines)."""
    nonempty = ends > starts
    first = np.zeros(starts.size, dtype=np.uint8)
    first[nonempty] = data[starts[nonempty]]
    content = first == 0x7B
    for i in np.flatnonzero(nonempty & ~content).tolist():
        content[i] = bool(chunk[int(starts[i]) : int(ends[i])].strip())
    return np.flatnonzero(content)


def read_canonical_chunk(
    chunk: bytes, first_line: int, limits: Limits, newlines: np.ndarray | None = None
) -> Candidate | None:
    """Parse a chunk of whole canonical JSON lines; None if it must take the per-row path.

    ``newlines``: the offsets of every newline in ``chunk``, if the caller has them.
    """
    data = np.frombuffer(chunk, dtype=np.uint8)
    if data.size == 0:
        return None
    if newlines is None:
        newlines = newline_offsets(chunk)
    ends = newlines if chunk.endswith(b"\n") else np.append(newlines, data.size)
    starts = np.concatenate(([0], newlines + 1))[: ends.size]
    lengths = ends - starts
    if int(lengths.max()) > limits.max_row_bytes:
        return None
    rows = _content_lines(chunk, data, starts, ends)
    if rows.size == 0:
        return None
    # Only hand Arrow lines shaped like one object: pyarrow 26 segfaults on a top-level
    # `null` line, and `{..}{..}` would shift its row count. Anything else: per-row path.
    last = ends[rows] - 1
    last = last - (data[last] == 0x0D)
    if not (np.all(data[starts[rows]] == 0x7B) and np.all(data[last] == 0x7D)):
        return None
    longest = int(lengths.max())
    # Threads: Arrow parses the chunk's blocks on both cores, using what the store's
    # insert leaves idle. A BufferReader hands Arrow the bytes without a copy or the GIL.
    options = pj.ReadOptions(block_size=max(1 << 20, 2 * longest + 2), use_threads=True)
    try:
        table = pj.read_json(pa.BufferReader(chunk), read_options=options, parse_options=_PARSE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        log.debug("fast path rejected chunk at line %d: %s", first_line, exc)
        return None
    if table.num_rows != rows.size:
        return None
    row_starts, row_ends = starts[rows], ends[rows]

    def raw(row: int) -> bytes:
        return chunk[int(row_starts[row]) : int(row_ends[row])]

    return Candidate(table.select(S.EVENT_SCHEMA.names), first_line + rows, raw)
