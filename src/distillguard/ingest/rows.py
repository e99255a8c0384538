"""The per-row path: parse one JSON line, map and coerce one record at a time.

Slower than the vectorised fast path but exact about which row is bad and why;
every format falls back to it (and mapped input always uses it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa

from distillguard import schema as S
from distillguard.ingest.base import IngestError, Limits
from distillguard.ingest.coerce import CoercionError, coercer
from distillguard.ingest.mapping import Mapping, SensitiveHasher, resolve
from distillguard.ingest.quarantine import QuarantineSink
from distillguard.ingest.validate import Candidate

__all__ = ["Item", "RowConverter", "Tally", "json_depth", "parse_lines"]

Item = tuple[int, Any, bytes | str]  # (line or row number, parsed record, raw input)
_OPENERS = (ord("{"), ord("["))


@dataclass
class Tally:
    """Rows read from one source (each non-blank line or tabular row counts once)."""

    read: int = 0


def json_depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            deepest = max(deepest, depth)
            stack += [(v, depth + 1) for v in node.values()]
        elif isinstance(node, list):
            deepest = max(deepest, depth)
            stack += [(v, depth + 1) for v in node]
    return deepest


def parse_lines(
    chunk: bytes,
    first_line: int,
    *,
    source: str,
    limits: Limits,
    quarantine: QuarantineSink,
    tally: Tally,
) -> Iterator[Item]:
    """Parse each non-blank line; quarantine the ones that are not a JSON object."""
    for offset, raw in enumerate(chunk.split(b"\n")):
        line = first_line + offset
        raw = raw.removesuffix(b"\r")
        if not raw.strip():
            continue
        tally.read += 1
        if len(raw) > limits.max_row_bytes:
            quarantine.add(
                source,
                line,
                "row_too_large",
                f"{len(raw)} bytes > max_row_bytes {limits.max_row_bytes}",
                raw,
            )
            continue
        deep = raw.count(b"{") + raw.count(b"[") > limits.max_depth
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as uexc:
                quarantine.add(source, line, "invalid_utf8", str(uexc), raw)
                continue
            reason = "too_deep" if deep and "recursion" in str(exc).lower() else "malformed_json"
            quarantine.add(source, line, reason, str(exc), raw)
            continue
        if not isinstance(record, dict):
            quarantine.add(
                source,
                line,
                "not_an_object",
                f"top-level JSON {type(record).__name__}, expected an object",
                raw,
            )
            continue
        if deep and (depth := json_depth(record)) > limits.max_depth:
            quarantine.add(
                source,
                line,
                "too_deep",
                f"nesting depth {depth} > max_depth {limits.max_depth}",
                raw,
            )
            continue
        yield line, record, raw


class RowConverter:
    """Maps and coerces records into a :class:`Candidate` table, quarantining wrong types."""

    def __init__(
        self, mapping: Mapping, limits: Limits, hasher: SensitiveHasher | None = None
    ) -> None:
        if mapping.sensitive and hasher is None:
            hasher = SensitiveHasher.from_env(mapping.key_env)
        self._hasher = hasher
        self._limits = limits
        self._canonical = mapping.is_canonical
        kinds = {f.name: f.kind for f in S.FIELDS}
        self._plan: list[tuple[str, tuple[tuple[str, ...], ...], Callable[[Any], Any], bool]] = [
            (
                rule.target,
                rule.paths,
                coercer(kinds[rule.target], rule.unit, rule.fmt),
                rule.sensitive,
            )
            for rule in mapping.rules
        ]
        self._constants: dict[str, Any] = {}
        for target, value in mapping.constants:
            try:
                self._constants[target] = coercer(kinds[target])(value)
            except CoercionError as exc:
                raise IngestError(f"{mapping.source}: constant {target!r}: {exc}") from None

    def _lookup(self, record: Any, paths: tuple[tuple[str, ...], ...], target: str) -> Any:
        if self._canonical:
            return record.get(target) if isinstance(record, dict) else None
        for path in paths:
            value = resolve(record, path)
            if value is not None:
                return value
        return None

    def convert(
        self, items: Iterable[Item], *, source: str, quarantine: QuarantineSink
    ) -> Candidate | None:
        # Only fields this mapping can fill get a column; the rest are all-null arrays.
        filled = {target for target, *_ in self._plan} | set(self._constants)
        columns: dict[str, list[Any]] = {name: [] for name in S.field_names() if name in filled}
        lines: list[int] = []
        raws: list[bytes | str] = []
        for line, record, raw in items:
            values: dict[str, Any] = {}
            try:
                for target, paths, coerce, sensitive in self._plan:
                    value = self._lookup(record, paths, target)
                    if value is None:
                        continue
                    value = coerce(value)
                    if sensitive and self._hasher:
                        # An absent id logged as "" must not hash to one id shared by all.
                        value = self._hasher(value) if value else None
                    values[target] = value
            except CoercionError as exc:
                quarantine.add(source, line, "wrong_type", f"{target}: {exc}", raw)
                continue
            for target, value in self._constants.items():
                values.setdefault(target, value)
            for name, column in columns.items():
                column.append(values.get(name))
            lines.append(line)
            raws.append(raw)
        if not lines:
            return None
        arrays = []
        for f in S.FIELDS:
            if f.name not in columns:
                arrays.append(pa.nulls(len(lines), f.arrow_type))
            elif f.kind == "timestamp":
                arrays.append(pa.array(columns[f.name], pa.int64()).cast(f.arrow_type))
            else:
                arrays.append(pa.array(columns[f.name], f.arrow_type))
        table = pa.Table.from_arrays(arrays, schema=S.EVENT_SCHEMA)
        return Candidate(table, lines, raws.__getitem__)
