"""Bad input never crashes a scan and is never dropped silently."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest
import zstandard

from distillguard import schema as S
from distillguard.engines.duckdb_store import DuckDBStore
from distillguard.ingest import REASONS, IngestError, Limits, ingest, read_events
from ingest.samples import assert_balanced, event, jsonl, quarantine_rows, table_of

CASES: list[tuple[str, bytes | str | dict[str, object]]] = [
    ("malformed_json", '{"timestamp": "2026-03-01T12:00:00Z", '),
    ("not_an_object", "[1, 2, 3]"),
    ("invalid_utf8", b'{"distillguard.prompt.text": "caf\xe9"}'),
    ("wrong_type", event(1000, **{S.INPUT_TOKENS: "many"})),
    ("wrong_type", event(1001, **{S.TIMESTAMP: "last tuesday"})),
    ("missing_required", {S.TIMESTAMP: "2026-03-01T12:00:00Z", S.PROMPT: "no account"}),
    ("missing_required", event(1002, **{S.ACCOUNT: ""})),
    ("missing_required", {S.ACCOUNT: "a", S.PROMPT: "no time"}),
    ("absurd_timestamp", event(1003, **{S.TIMESTAMP: "3000-01-01T00:00:00Z"})),
    ("absurd_timestamp", event(1004, **{S.TIMESTAMP: 86_400})),
    ("absurd_timestamp", event(1009, **{S.TIMESTAMP: -9e16})),  # before datetime year 1
    ("absurd_value", event(1005, **{S.INPUT_TOKENS: -5})),
    ("absurd_value", event(1006, **{S.TOP_P: 3.0})),
    ("prompt_too_large", event(1007, **{S.PROMPT: "x" * 5000})),
    ("too_deep", '{"a": ' + "[" * 200 + "]" * 200 + "}"),
    ("row_too_large", event(1008, padding="y" * 20_000)),
]
LIMITS = Limits(max_prompt_bytes=4096, max_row_bytes=16_384, max_depth=64)


def _mixed(tmp_path: Path) -> Path:
    rows: list[object] = [event(i) for i in range(30)]
    for offset, (_, bad) in enumerate(CASES):
        rows.insert(2 * offset + 1, bad)
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(jsonl(rows))
    return path


def test_every_bad_row_is_quarantined_with_reason_and_exact_line(tmp_path: Path) -> None:
    path = _mixed(tmp_path)
    quarantine = tmp_path / "q.jsonl"
    with DuckDBStore(":memory:") as store:
        summary = ingest([path], store=store, quarantine_path=quarantine, limits=LIMITS)
        assert store.count() == 30
    assert_balanced(summary)
    assert summary.rows_read == 30 + len(CASES)
    assert summary.rows_quarantined == len(CASES)
    rows = quarantine_rows(quarantine)
    got = sorted((row["line"], row["reason"]) for row in rows)
    assert got == [(2 * i + 2, reason) for i, (reason, _) in enumerate(CASES)]
    lines = path.read_bytes().split(b"\n")
    for row in rows:
        assert row["source"] == str(path)
        assert row["detail"]
        assert len(row["raw"]) <= Limits().max_raw_chars
        if row["reason"] not in ("invalid_utf8", "row_too_large"):
            assert lines[row["line"] - 1].decode().startswith(row["raw"][:50])
    assert set(summary.quarantined_by_reason) <= set(REASONS)


def test_strict_mode_raises_on_the_first_bad_row_with_file_and_line(tmp_path: Path) -> None:
    path = _mixed(tmp_path)
    with DuckDBStore(":memory:") as store, pytest.raises(IngestError) as info:
        ingest([path], store=store, strict=True, limits=LIMITS)
    assert str(info.value).startswith(f"{path}:2: malformed_json: ")
    assert "\n" not in str(info.value)


def test_huge_prompt_line_is_skipped_without_being_held(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    huge = event(1, **{S.PROMPT: "z" * 3_000_000})
    path.write_bytes(jsonl([event(0), huge, event(2)]))
    quarantine = tmp_path / "q.jsonl"
    limits = Limits(max_row_bytes=1_000_000, max_prompt_bytes=500_000)
    got = table_of(read_events([path], quarantine=quarantine, limits=limits))
    assert got[S.REQUEST_ID].to_pylist() == ["req_0", "req_2"]
    rows = quarantine_rows(quarantine)
    assert [(r["line"], r["reason"]) for r in rows] == [(2, "row_too_large")]


@pytest.mark.parametrize("compress", [gzip.compress, zstandard.ZstdCompressor().compress])
def test_truncated_compressed_input_keeps_rows_before_the_cut(tmp_path: Path, compress) -> None:  # type: ignore[no-untyped-def]
    data = compress(jsonl([event(i) for i in range(2000)]))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    quarantine = tmp_path / "q.jsonl"
    with DuckDBStore(":memory:") as store:
        summary = ingest([path], store=store, quarantine_path=quarantine)
    assert_balanced(summary)
    assert 0 < summary.rows_stored < 2000
    assert summary.quarantined_by_reason["truncated_input"] == 1
    # Rows kept are a prefix: nothing before the cut is lost.
    keys = {r["reason"] for r in quarantine_rows(quarantine)}
    assert keys <= {"truncated_input", "malformed_json"}


def test_file_that_grows_while_read_is_read_to_its_size_at_open(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    path.write_bytes(jsonl([event(i) for i in range(5)]))
    quarantine = tmp_path / "q.jsonl"
    batches = read_events([path], quarantine=quarantine)
    first = next(batches)
    with path.open("ab") as handle:
        handle.write(jsonl([event(i) for i in range(5, 9)]))
    rest = list(batches)
    assert first.num_rows + sum(b.num_rows for b in rest) == 5
    rows = quarantine_rows(quarantine)
    assert [r["reason"] for r in rows] == ["file_changed"]


def test_duplicate_and_invalid_rows_balance_across_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_bytes(jsonl([event(i) for i in range(10)] + ["nope"]))
    b.write_bytes(jsonl([event(i) for i in range(5, 15)] + [event(3)]))
    with DuckDBStore(":memory:") as store:
        summary = ingest([a, b], store=store)
        assert store.count() == 15
    assert_balanced(summary)
    assert (summary.rows_read, summary.rows_duplicate, summary.rows_quarantined) == (22, 6, 1)
    assert summary.sources == (str(a), str(b))


def test_quarantine_file_is_valid_jsonl_even_for_hostile_rows(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_bytes(b'\x00\xff\xfe{"a":\n"\\ud800"\n\x1b[31m\n')
    quarantine = tmp_path / "q.jsonl"
    got = table_of(read_events([path], quarantine=quarantine))
    assert got.num_rows == 0
    rows = [orjson.loads(line) for line in quarantine.read_bytes().splitlines()]
    assert len(rows) == 3
