from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from distillguard.ingest.coerce import (
    CoercionError,
    coerce_bool,
    coerce_float,
    coerce_int,
    coerce_string,
    coerce_strings,
    coerce_timestamp,
    messages_text,
)

MOMENT = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
US = int(MOMENT.timestamp()) * 1_000_000


@pytest.mark.parametrize(
    "value",
    [
        "2026-03-01T12:00:00Z",
        "2026-03-01T12:00:00+00:00",
        "2026-03-01T13:00:00+01:00",
        "2026-03-01 12:00:00",
        US // 1_000_000,
        US // 1000,
        US,
        US * 1000,
        str(US // 1_000_000),
        f"{US / 1e6:.3f}",
        float(US // 1_000_000),
    ],
)
def test_timestamps_in_any_common_form_become_the_same_instant(value: Any) -> None:
    assert coerce_timestamp(value) == US


def test_declared_unit_overrides_magnitude_and_strptime_format_is_used() -> None:
    assert coerce_timestamp(1_000, "s") == 1_000_000_000
    assert coerce_timestamp(1_000, "ms") == 1_000_000
    assert coerce_timestamp("01/Mar/2026:12:00:00 +0000", fmt="%d/%b/%Y:%H:%M:%S %z") == US
    with pytest.raises(CoercionError):
        coerce_timestamp("2026-03-01", fmt="%d/%b/%Y")


@pytest.mark.parametrize("bad", ["yesterday", True, None, [1], {"t": 1}, float("nan"), 1e300])
def test_non_timestamps_are_refused(bad: Any) -> None:
    with pytest.raises(CoercionError):
        coerce_timestamp(bad)


def test_numbers_and_bools_given_as_text() -> None:
    assert coerce_int("42") == 42
    assert coerce_int(" 42 ") == 42
    assert coerce_int("42.0") == 42
    assert coerce_int(7.0) == 7
    assert coerce_float("0.7") == 0.7
    assert coerce_float(1) == 1.0
    assert coerce_bool("true") is True
    assert coerce_bool("False") is False
    assert coerce_bool(0) is False
    bad: Any
    for bad in ("4.5", "many", True, 2**70, None):
        with pytest.raises(CoercionError):
            coerce_int(bad)
    for bad in ("x", "inf", True, [1]):
        with pytest.raises(CoercionError):
            coerce_float(bad)
    for bad in ("maybe", 2, 0.5):
        with pytest.raises(CoercionError):
            coerce_bool(bad)


def test_strings_and_string_lists() -> None:
    assert coerce_string(3) == "3"
    assert coerce_string({"a": [1]}) == '{"a":[1]}'
    assert coerce_strings("stop") == ["stop"]
    assert coerce_strings('["stop","length"]') == ["stop", "length"]
    assert coerce_strings(["stop", 1]) == ["stop", "1"]
    with pytest.raises(CoercionError):
        coerce_strings(5)


def test_messages_give_last_user_turn_turn_count_and_system() -> None:
    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "answer"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "second"},
                {"type": "image_url", "image_url": {"url": "data:..."}},
                {"type": "text", "text": "question"},
            ],
        },
    ]
    assert messages_text(messages) == ("second\nquestion", 2, "Be terse.")


def test_otel_message_parts_and_json_text_are_understood() -> None:
    otel = '[{"role":"user","parts":[{"type":"text","content":"hello"}]}]'
    assert messages_text(otel) == ("hello", 1, None)
    assert messages_text("not json") == (None, 0, None)
    assert messages_text({"role": "user"}) == (None, 0, None)
    assert messages_text([1, "x", {"role": "assistant", "content": "hi"}]) == (None, 0, None)
