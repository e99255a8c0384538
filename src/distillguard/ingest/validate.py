"""Column-wise completion and checks of candidate events.

A :class:`Candidate` is a table in the canonical schema plus, per row, where it
came from. :func:`finalize` derives the prompt from messages, assigns the event
key, quarantines rows that break a rule, and returns the rest. Vectorised: only
rows that need it are touched in Python.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from distillguard import schema as S
from distillguard.ingest.base import Limits
from distillguard.ingest.coerce import messages_text
from distillguard.ingest.quarantine import QuarantineSink

__all__ = ["COUNT_FIELDS", "Candidate", "content_key", "finalize"]

#: Integer fields that count something: negative or beyond Limits.max_count is absurd.
COUNT_FIELDS = (
    S.MAX_TOKENS,
    S.CHOICE_COUNT,
    S.INPUT_TOKENS,
    S.OUTPUT_TOKENS,
    S.REASONING_TOKENS,
    S.TOP_LOGPROBS,
    S.TURNS,
)
_MAX_TEMPERATURE = 10.0  # providers cap at 2 (OpenAI) or 1 (Anthropic); 10 is corrupt data
_MAX_ASN = 2**32  # ASNs are 32-bit (RFC 6793)


@dataclass(frozen=True)
class Candidate:
    """Rows in the canonical schema, each with its line (or row) number and raw input."""

    table: pa.Table
    lines: Sequence[int] | np.ndarray
    raw: Callable[[int], bytes | str]


def _mask(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _derive_from_messages(table: pa.Table) -> pa.Table:
    messages = table[S.INPUT_MESSAGES]
    # System text is filled on the way, but never worth a parse on its own.
    need = pc.and_(
        pc.is_valid(messages), pc.or_(pc.is_null(table[S.PROMPT]), pc.is_null(table[S.TURNS]))
    )
    rows = np.flatnonzero(_mask(need))
    if rows.size == 0:
        return table
    texts = messages.take(pa.array(rows)).to_pylist()
    prompt = table[S.PROMPT].to_pylist()
    turns = table[S.TURNS].to_pylist()
    system = table[S.SYSTEM].to_pylist()
    for row, text in zip(rows.tolist(), texts, strict=True):
        derived_prompt, derived_turns, derived_system = messages_text(text)
        if prompt[row] is None:
            prompt[row] = derived_prompt
        if turns[row] is None:
            turns[row] = derived_turns
        if system[row] is None:
            system[row] = derived_system
    for name, values, kind in (
        (S.PROMPT, prompt, pa.string()),
        (S.TURNS, turns, pa.int64()),
        (S.SYSTEM, system, pa.string()),
    ):
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(values, kind))
    return table


def content_key(values: Sequence[Any]) -> str:
    """Stable content hash of one canonical row (without its key): ``c_`` + 128-bit hex."""
    blob = orjson.dumps(list(values), default=str)
    return "c_" + hashlib.blake2b(blob, digest_size=16).hexdigest()


def _assign_keys(table: pa.Table) -> pa.Table:
    keys = pc.coalesce(table[S.EVENT_KEY], table[S.REQUEST_ID])
    missing = np.flatnonzero(~_mask(pc.is_valid(keys)))
    if missing.size:
        rest = table.drop_columns([S.EVENT_KEY]).take(pa.array(missing))
        rows = zip(*(column.to_pylist() for column in rest.columns), strict=True)
        hashed: list[str | None] = [None] * table.num_rows
        for row, values in zip(missing.tolist(), rows, strict=True):
            hashed[row] = content_key(values)
        keys = pc.coalesce(keys, pa.array(hashed, pa.string()))
    return table.set_column(table.schema.get_field_index(S.EVENT_KEY), S.EVENT_KEY, keys)


def _checks(table: pa.Table, limits: Limits) -> list[tuple[str, np.ndarray, Callable[[int], str]]]:
    ts = table[S.TIMESTAMP].cast(pa.int64())
    account = table[S.ACCOUNT]
    missing = (
        ~_mask(pc.is_valid(ts))
        | ~_mask(pc.is_valid(account))
        | _mask(pc.equal(account, ""))
        | ~_mask(pc.is_valid(table[S.PROMPT]))
    )

    def out_of_range(values: pa.ChunkedArray) -> np.ndarray:
        return _mask(
            pc.or_(pc.less(values, limits.min_ts_us), pc.greater_equal(values, limits.max_ts_us))
        )

    created = table[S.ACCOUNT_CREATED].cast(pa.int64())
    bad_time = out_of_range(ts) | out_of_range(created)
    absurd = np.zeros(table.num_rows, dtype=bool)
    for name in COUNT_FIELDS:
        absurd |= _mask(pc.or_(pc.less(table[name], 0), pc.greater(table[name], limits.max_count)))
    absurd |= _mask(pc.or_(pc.less(table[S.TOP_P], 0.0), pc.greater(table[S.TOP_P], 1.0)))
    absurd |= _mask(
        pc.or_(
            pc.less(table[S.TEMPERATURE], 0.0), pc.greater(table[S.TEMPERATURE], _MAX_TEMPERATURE)
        )
    )
    absurd |= _mask(pc.or_(pc.less(table[S.ASN], 0), pc.greater_equal(table[S.ASN], _MAX_ASN)))
    prompt_bytes = pc.binary_length(table[S.PROMPT])
    too_large = _mask(pc.greater(prompt_bytes, limits.max_prompt_bytes))

    def cell(name: str, row: int) -> Any:
        value = table[name][row]
        try:
            return value.as_py()
        except (OverflowError, ValueError):  # a timestamp beyond Python's datetime range
            return f"{value.cast(pa.int64()).as_py()} us since 1970"

    def missing_detail(row: int) -> str:
        absent = [n for n in S.REQUIRED if cell(n, row) in (None, "")]
        return "missing " + ", ".join(absent)

    def time_detail(row: int) -> str:
        return (
            f"timestamp {cell(S.TIMESTAMP, row)} / account created "
            f"{cell(S.ACCOUNT_CREATED, row)} outside [{limits.min_year}, {limits.max_year})"
        )

    def absurd_detail(row: int) -> str:
        shown = {n: cell(n, row) for n in (*COUNT_FIELDS, S.TOP_P, S.TEMPERATURE, S.ASN)}
        return "out of range: " + ", ".join(f"{k}={v}" for k, v in shown.items() if v is not None)

    def size_detail(row: int) -> str:
        return (
            f"prompt is {prompt_bytes[row].as_py()} bytes > max_prompt_bytes "
            f"{limits.max_prompt_bytes}"
        )

    return [
        ("missing_required", missing, missing_detail),
        ("absurd_timestamp", bad_time, time_detail),
        ("absurd_value", absurd, absurd_detail),
        ("prompt_too_large", too_large, size_detail),
    ]


def finalize(
    candidate: Candidate, *, source: str, limits: Limits, quarantine: QuarantineSink
) -> pa.Table:
    """Derive, key and check candidate rows; bad rows go to quarantine, good ones return."""
    table = _derive_from_messages(candidate.table)
    bad = np.zeros(table.num_rows, dtype=bool)
    for reason, mask, detail in _checks(table, limits):
        fresh = mask & ~bad
        for row in np.flatnonzero(fresh).tolist():
            quarantine.add(
                source, int(candidate.lines[row]), reason, detail(row), candidate.raw(row)
            )
        bad |= fresh
    if bad.any():
        table = table.filter(pa.array(~bad))
    return _assign_keys(table)
