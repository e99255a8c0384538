"""Coercion of one raw value to a canonical type, and the text derived from messages.

Pure functions, no I/O. Each coercer returns the canonical Python value or
raises :class:`CoercionError`; the caller quarantines the row as ``wrong_type``.
Timestamps become integer microseconds since the epoch (UTC).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

__all__ = [
    "CoercionError",
    "TimeUnit",
    "coerce_bool",
    "coerce_float",
    "coerce_int",
    "coerce_string",
    "coerce_strings",
    "coerce_timestamp",
    "coercer",
    "messages_text",
]

TimeUnit = Literal["auto", "iso", "s", "ms", "us", "ns"]

_UNIT_US = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 0.001}
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0", ""})


class CoercionError(ValueError):
    """A value that cannot become the canonical type."""


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _epoch_unit(magnitude: float) -> str:
    # Epoch seconds stay below 1e11 until the year 5138; ms/us/ns are 1e3 apart, so the
    # magnitude alone tells the unit for any date after 1973.
    if magnitude < 1e11:
        return "s"
    if magnitude < 1e14:
        return "ms"
    if magnitude < 1e17:
        return "us"
    return "ns"


def coerce_timestamp(value: Any, unit: TimeUnit = "auto", fmt: str | None = None) -> int:
    """ISO 8601 text, epoch s/ms/us/ns (number or numeric text), or ``fmt`` (strptime)."""
    if isinstance(value, bool) or value is None:
        raise CoercionError(f"expected a timestamp, got {_show(value)}")
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return _to_us(moment)
    if isinstance(value, str):
        text = value.strip()
        if fmt is not None:
            try:
                return _to_us(datetime.strptime(text, fmt))
            except ValueError as exc:
                raise CoercionError(f"timestamp {_show(value)} does not match {fmt!r}") from exc
        if unit in ("auto", "iso"):
            try:
                return _to_us(datetime.fromisoformat(text))
            except ValueError:
                if unit == "iso":
                    raise CoercionError(f"not an ISO 8601 timestamp: {_show(value)}") from None
        try:
            value = float(text) if any(c in text for c in ".eE") else int(text)
        except ValueError:
            raise CoercionError(f"expected a timestamp, got {_show(value)}") from None
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise CoercionError(f"expected a timestamp, got {_show(value)}")
        chosen = _epoch_unit(abs(value)) if unit in ("auto", "iso") else unit
        scale = _UNIT_US[chosen]
        micros = int(value * scale) if isinstance(scale, int) else int(value // 1000)
        if not -_INT64 <= micros < _INT64:
            raise CoercionError(f"timestamp out of range: {_show(value)}")
        return micros
    raise CoercionError(f"expected a timestamp, got {_show(value)}")


def _to_us(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_INT64 = 2**63


def coerce_int(value: Any) -> int:
    number = _int(value)
    if not -_INT64 <= number < _INT64:
        raise CoercionError(f"integer out of range: {_show(value)}")
    return number


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise CoercionError(f"expected an integer, got {_show(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                number = math.nan
            if number.is_integer():
                return int(number)
    raise CoercionError(f"expected an integer, got {_show(value)}")


def coerce_float(value: Any) -> float:
    if isinstance(value, bool):
        raise CoercionError(f"expected a number, got {_show(value)}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise CoercionError(f"expected a number, got {_show(value)}") from None
    else:
        raise CoercionError(f"expected a number, got {_show(value)}")
    if not math.isfinite(number):
        raise CoercionError(f"expected a finite number, got {_show(value)}")
    return number


def coerce_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise CoercionError(f"expected a boolean, got {_show(value)}")


def coerce_string(value: Any) -> str:
    """Text as is; numbers and booleans as their JSON text; objects and lists as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict | list):
        try:
            return orjson.dumps(value).decode()
        except (TypeError, orjson.JSONEncodeError) as exc:
            raise CoercionError(f"cannot serialise {_show(value)}") from exc
    raise CoercionError(f"expected text, got {_show(value)}")


def coerce_strings(value: Any) -> list[str]:
    """A list of text; a single text becomes a one-item list (``"stop"`` -> ``["stop"]``)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError:
                return [value]
        else:
            return [value]
    if isinstance(value, list | tuple):
        return [coerce_string(item) for item in value]
    raise CoercionError(f"expected a list of text, got {_show(value)}")


def coercer(kind: str, unit: TimeUnit = "auto", fmt: str | None = None) -> Callable[[Any], Any]:
    """The coercer for a canonical field kind (see ``schema.Field.kind``)."""
    if kind == "timestamp":
        return lambda value: coerce_timestamp(value, unit, fmt)
    return {
        "string": coerce_string,
        "int": coerce_int,
        "float": coerce_float,
        "bool": coerce_bool,
        "strings": coerce_strings,
    }[kind]


def _part_text(part: Any) -> str | None:
    if isinstance(part, str):
        return part
    if isinstance(part, dict):
        # OpenAI/Anthropic parts carry "text"; OTel GenAI parts carry "content".
        kind = part.get("type", "text")
        if kind in ("text", "input_text"):
            text = part.get("text", part.get("content"))
            return text if isinstance(text, str) else None
    return None


def _message_text(message: dict[str, Any]) -> str:
    content = message.get("content", message.get("parts"))
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(t for t in map(_part_text, content) if t is not None)
    return ""


def messages_text(messages: Any) -> tuple[str | None, int, str | None]:
    """(last user turn's text, number of user turns, system text) of a message list.

    Accepts OpenAI ``messages`` (content as text or parts), Anthropic parts and
    OTel GenAI messages (``parts`` with ``content``). Non-message input gives
    ``(None, 0, None)``.
    """
    if isinstance(messages, str | bytes):
        try:
            messages = orjson.loads(messages)
        except orjson.JSONDecodeError:
            return None, 0, None
    if not isinstance(messages, list):
        return None, 0, None
    prompt: str | None = None
    turns = 0
    system: list[str] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role == "user":
            turns += 1
            prompt = _message_text(message)
        elif role in ("system", "developer"):
            system.append(_message_text(message))
    return prompt, turns, ("\n".join(system) if system else None)
