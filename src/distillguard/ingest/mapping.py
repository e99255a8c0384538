"""Field mappings: how a user's log fields become canonical event fields.

A mapping file (TOML or YAML) is validated on load; an unknown key is an error
that names the file and line. Reference: ``docs/ingest.md``. Example::

    format = "jsonl"
    [hashing]
    key_env = "DISTILLGUARD_HASH_KEY"
    [fields]
    timestamp = { path = "startTime", unit = "auto" }
    "distillguard.account.id" = { path = "user", sensitive = true }
    "gen_ai.usage.input_tokens" = "usage.prompt_tokens"
    "gen_ai.input.messages" = "messages"
    [constants]
    "distillguard.router.id" = "litellm"
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import orjson
import yaml

from distillguard import schema as S
from distillguard.ingest.base import IngestError
from distillguard.ingest.coerce import TimeUnit

__all__ = [
    "FORMATS",
    "FieldRule",
    "Mapping",
    "SensitiveHasher",
    "example_mappings",
    "load_mapping",
    "resolve",
]

FORMATS = ("auto", "jsonl", "csv", "parquet", "otlp")
DEFAULT_KEY_ENV = "DISTILLGUARD_HASH_KEY"
_FIELD_TYPES = {f.name: f for f in S.FIELDS}
_NOT_MAPPABLE = {S.EVENT_KEY, S.TURNS}
_TOP_KEYS = {"format", "passthrough", "hashing", "fields", "constants"}
_RULE_KEYS = {"path", "sensitive", "unit", "format"}
_HASHING_KEYS = {"key_env"}


@dataclass(frozen=True)
class FieldRule:
    """One canonical field read from one or more candidate paths (first non-null wins)."""

    target: str
    paths: tuple[tuple[str, ...], ...]
    sensitive: bool = False
    unit: TimeUnit = "auto"
    fmt: str | None = None  # strptime format for timestamps given as text


@dataclass(frozen=True)
class Mapping:
    """A validated mapping. ``Mapping.canonical()`` reads canonical names as they are."""

    rules: tuple[FieldRule, ...]
    constants: tuple[tuple[str, str], ...] = ()
    format: str = "auto"
    key_env: str = DEFAULT_KEY_ENV
    source: str = "<canonical>"
    is_canonical: bool = field(default=False, compare=False)

    @classmethod
    def canonical(cls) -> Mapping:
        rules = tuple(
            FieldRule(f.name, ((f.name,),)) for f in S.FIELDS if f.name not in _NOT_MAPPABLE
        )
        key = FieldRule(S.EVENT_KEY, ((S.EVENT_KEY,),))
        turns = FieldRule(S.TURNS, ((S.TURNS,),))
        return cls(rules=(*rules, key, turns), is_canonical=True)

    @property
    def sensitive(self) -> bool:
        return any(rule.sensitive for rule in self.rules)


def resolve(record: Any, path: tuple[str, ...]) -> Any:
    """Value at ``path`` in nested dicts/lists; keys may themselves contain dots.

    At each level the longest run of segments that is a key wins, so
    ``attributes.gen_ai.request.model`` finds the key ``gen_ai.request.model``.
    Text holding a JSON object (e.g. nginx ``request_body``) is parsed on the way.
    """
    value = record
    for segment in path:  # the common case: plain keys, one per segment
        if isinstance(value, dict) and segment in value:
            value = value[segment]
        else:
            break
    else:
        return value
    value = record
    i = 0
    while i < len(path):
        if isinstance(value, str) and value[:1] in ("{", "["):
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                return None
        if isinstance(value, dict):
            for j in range(len(path), i, -1):
                key = path[i] if j == i + 1 else ".".join(path[i:j])
                if key in value:
                    value = value[key]
                    i = j
                    break
            else:
                return None
        elif isinstance(value, list):
            try:
                value = value[int(path[i])]
            except (ValueError, IndexError):
                return None
            i += 1
        else:
            return None
    return value


class SensitiveHasher:
    """Keyed hash (HMAC-SHA256, 128 bits shown) of raw identifiers; the key never leaves env."""

    _MAX_CACHE = 1_000_000  # accounts repeat; bound the memo so it cannot grow without limit

    def __init__(self, key: bytes) -> None:
        if not key:
            raise IngestError("the hashing key is empty")
        self._key = key
        self._memo: dict[str, str] = {}

    @classmethod
    def from_env(cls, env_name: str) -> SensitiveHasher:
        key = os.environ.get(env_name, "")
        if not key:
            raise IngestError(
                f"the mapping declares sensitive fields but ${env_name} is not set: "
                "set it to a secret key (e.g. `openssl rand -hex 32`) so raw ids are hashed"
            )
        return cls(key.encode())

    def __call__(self, value: str) -> str:
        hashed = self._memo.get(value)
        if hashed is None:
            if len(self._memo) >= self._MAX_CACHE:
                self._memo.clear()
            digest = hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()
            hashed = self._memo[value] = "h_" + digest[:32]
        return hashed


def example_mappings() -> dict[str, Path]:
    """The example mappings shipped with distillguard, by name."""
    folder = Path(__file__).parent / "mappings"
    return {p.stem: p for p in sorted(folder.glob("*.toml"))}


def load_mapping(path: str | Path) -> Mapping:
    """Load and validate a TOML or YAML mapping file; errors name the file and line.

    A bare name of a shipped example (``litellm``, ``openai``, ``nginx``; see
    :func:`example_mappings`) loads that example.
    """
    path = Path(path)
    if not path.exists() and path.name in example_mappings():
        path = example_mappings()[path.name]
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            data, lines = _yaml_with_lines(text)
        except yaml.YAMLError as exc:
            raise IngestError(f"{path}: invalid YAML: {exc}") from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise IngestError(f"{path}: invalid TOML: {exc}") from None
        lines = _toml_lines(text, data)
    return _build(data, lines, str(path))


def _fail(source: str, lines: dict[tuple[str, ...], int], where: tuple[str, ...], msg: str) -> None:
    line = lines.get(where) or lines.get(where[:-1]) or 1
    raise IngestError(f"{source}:{line}: {msg}")


def _build(data: Any, lines: dict[tuple[str, ...], int], source: str) -> Mapping:
    if not isinstance(data, dict):
        raise IngestError(f"{source}:1: a mapping must be a table of keys")
    for key in data:
        if key not in _TOP_KEYS:
            _fail(source, lines, (key,), f"unknown key {key!r} (allowed: {sorted(_TOP_KEYS)})")
    fmt = data.get("format", "auto")
    if fmt not in FORMATS:
        _fail(source, lines, ("format",), f"format must be one of {FORMATS}, not {fmt!r}")
    passthrough = data.get("passthrough", False)
    if not isinstance(passthrough, bool):
        _fail(source, lines, ("passthrough",), "passthrough must be true or false")
    hashing = data.get("hashing", {})
    if not isinstance(hashing, dict):
        _fail(source, lines, ("hashing",), "hashing must be a table")
    for key in hashing:
        if key not in _HASHING_KEYS:
            _fail(source, lines, ("hashing", key), f"unknown key {key!r} in [hashing]")
    key_env = hashing.get("key_env", DEFAULT_KEY_ENV)
    fields = data.get("fields", {})
    if not isinstance(fields, dict) or not fields:
        _fail(source, lines, ("fields",), "[fields] must map canonical names to paths")
    rules = [_rule(target, spec, lines, source) for target, spec in fields.items()]
    constants = data.get("constants", {})
    if not isinstance(constants, dict):
        _fail(source, lines, ("constants",), "constants must be a table")
    for target, value in constants.items():
        _check_target(target, lines, ("constants", target), source)
        if not isinstance(value, str | int | float | bool):
            _fail(source, lines, ("constants", target), f"constant for {target!r} must be scalar")
    mapped = {rule.target for rule in rules}
    if passthrough:
        rules += [
            rule for rule in Mapping.canonical().rules if rule.target not in mapped | _NOT_MAPPABLE
        ]
    return Mapping(
        rules=tuple(rules),
        constants=tuple((k, str(v)) for k, v in constants.items()),
        format=fmt,
        key_env=key_env,
        source=source,
    )


def _check_target(
    target: str, lines: dict[tuple[str, ...], int], where: tuple[str, ...], source: str
) -> None:
    if target not in _FIELD_TYPES:
        _fail(source, lines, where, f"unknown canonical field {target!r} (see docs/schema.md)")
    if target in _NOT_MAPPABLE:
        _fail(source, lines, where, f"{target!r} is derived by ingest and cannot be mapped")


def _split(
    path: Any, lines: dict[tuple[str, ...], int], where: tuple[str, ...], source: str
) -> tuple[tuple[str, ...], ...]:
    paths = [path] if isinstance(path, str) else path
    if (
        not isinstance(paths, list)
        or not paths
        or not all(isinstance(p, str) and p.strip(".") for p in paths)
    ):
        _fail(source, lines, where, "path must be a dotted path or a list of alternatives")
    return tuple(tuple(p.split(".")) for p in paths)


def _rule(target: str, spec: Any, lines: dict[tuple[str, ...], int], source: str) -> FieldRule:
    where = ("fields", target)
    _check_target(target, lines, where, source)
    if isinstance(spec, str | list):
        return FieldRule(target, _split(spec, lines, where, source))
    if not isinstance(spec, dict):
        _fail(source, lines, where, f"field {target!r} needs a path or a table")
    for key in spec:
        if key not in _RULE_KEYS:
            _fail(
                source,
                lines,
                (*where, key),
                f"unknown key {key!r} for field {target!r} (allowed: {sorted(_RULE_KEYS)})",
            )
    if "path" not in spec:
        _fail(source, lines, where, f"field {target!r} has no path")
    unit = spec.get("unit", "auto")
    if unit not in get_args(TimeUnit):
        _fail(source, lines, (*where, "unit"), f"unit must be one of {get_args(TimeUnit)}")
    fmt = spec.get("format")
    if fmt is not None and not isinstance(fmt, str):
        _fail(source, lines, (*where, "format"), "format must be a strptime pattern")
    sensitive = spec.get("sensitive", False)
    if not isinstance(sensitive, bool):
        _fail(source, lines, (*where, "sensitive"), "sensitive must be true or false")
    if sensitive and _FIELD_TYPES[target].kind != "string":
        _fail(source, lines, (*where, "sensitive"), "only text fields can be hashed")
    return FieldRule(target, _split(spec["path"], lines, where, source), sensitive, unit, fmt)


def _toml_lines(text: str, data: dict[str, Any]) -> dict[tuple[str, ...], int]:
    """Line of each key, found in the text (tomllib keeps no positions)."""
    lines: dict[tuple[str, ...], int] = {}
    rows = text.splitlines()

    def find(key: str, start: int) -> int:
        quoted = re.escape(key)
        pattern = re.compile(rf'^\s*(\[+[^\]]*)?["\']?{quoted}["\']?\s*(=|\]|\.)')
        loose = re.compile(rf'["\']?{quoted}["\']?\s*=')
        for rx in (pattern, loose):
            for i in range(start, len(rows)):
                if rx.search(rows[i]):
                    return i + 1
        return 0

    def walk(node: dict[str, Any], prefix: tuple[str, ...], start: int) -> None:
        for key, value in node.items():
            line = find(key, start) or find(key, 0)
            lines[(*prefix, key)] = line
            if isinstance(value, dict):
                walk(value, (*prefix, key), max(line - 1, 0))

    walk(data, (), 0)
    return lines


def _yaml_with_lines(text: str) -> tuple[Any, dict[tuple[str, ...], int]]:
    lines: dict[tuple[str, ...], int] = {}
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is None:
        return {}, lines

    def walk(node: yaml.Node, prefix: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = (*prefix, str(key_node.value))
                lines[key] = key_node.start_mark.line + 1
                walk(value_node, key)

    walk(root, ())
    return yaml.safe_load(text), lines
