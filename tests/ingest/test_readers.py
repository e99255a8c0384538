"""Cutting byte streams into numbered chunks of whole lines."""

from __future__ import annotations

import pytest

from distillguard.ingest.readers import line_chunks, newline_offsets

LINES = [b'{"a": %d}' % i + b" " * (i % 7) for i in range(40)] + [b"", b'{"last": 1}']


def _blocks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 5, 16, 64, 1000])
@pytest.mark.parametrize("final_newline", [True, False])
def test_chunks_number_every_line_and_list_its_newlines(size: int, final_newline: bool) -> None:
    data = b"\n".join(LINES) + (b"\n" if final_newline else b"")
    oversized: list[tuple[int, bytes]] = []
    chunks = list(line_chunks(iter(_blocks(data, size)), 1000, lambda *a: oversized.append(a)))
    assert b"".join(c.data for c in chunks) == data
    assert not oversized
    numbered = []
    for chunk in chunks:
        assert chunk.newlines.tolist() == [i for i, b in enumerate(chunk.data) if b == 0x0A]
        lines = chunk.data.split(b"\n")
        if chunk.data.endswith(b"\n"):
            lines.pop()
        numbered += list(enumerate(lines, start=chunk.first_line))
    assert numbered == list(enumerate(LINES, start=1))


def test_oversized_lines_are_skipped_with_their_number_and_a_bom_dropped() -> None:
    data = b"\xef\xbb\xbf" + b'{"a": 1}\n' + b"x" * 50 + b'\n{"b": 2}\n'
    oversized: list[tuple[int, bytes]] = []
    chunks = list(line_chunks(iter(_blocks(data, 8)), 20, lambda *a: oversized.append(a)))
    assert [(n, head[:3]) for n, head in oversized] == [(2, b"xxx")]
    assert [(c.first_line, c.data) for c in chunks] == [(1, b'{"a": 1}\n'), (3, b'{"b": 2}\n')]


def test_a_block_of_whole_lines_is_passed_on_without_a_copy() -> None:
    block = b'{"a": 1}\n{"b": 2}\n'
    (chunk,) = line_chunks(iter([block]), 100, lambda *a: None)
    assert chunk.data is block
    assert newline_offsets(block).tolist() == [8, 17]
    assert newline_offsets(b"no newline").size == 0


@pytest.mark.parametrize(
    "data",
    [b"\n" * 5000, b"x\n" * 3000 + b"y" * 4000 + b"\n", b"a" * 9000 + b"\n" * 300 + b"z"],
)
def test_newline_offsets_agree_with_numpy_for_short_and_long_lines(data: bytes) -> None:
    expected = [i for i, b in enumerate(data) if b == 0x0A]
    assert newline_offsets(data).tolist() == expected
