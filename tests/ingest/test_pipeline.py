"""Streaming, the vectorised fast path vs the per-row path, dedupe and progress."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from distillguard import schema as S
from distillguard.engines.duckdb_store import DuckDBStore
from distillguard.ingest import Limits, ingest, pipeline, read_events
from distillguard.ingest.fastpath import read_canonical_chunk
from distillguard.ingest.mapping import Mapping
from distillguard.ingest.quarantine import QuarantineSink
from distillguard.ingest.rows import RowConverter, Tally, parse_lines
from ingest.samples import assert_balanced, event, jsonl, quarantine_rows, table_of

MESSAGES = '[{"role":"user","content":[{"type":"text","text":"derived"}]}]'


def _varied(n: int) -> list[dict[str, object]]:
    rows = []
    for i in range(n):
        row = event(
            i,
            **{
                S.TEMPERATURE: 0.5,
                S.LOGPROBS: i % 2 == 0,
                S.ACCOUNT_CREATED: "2026-01-01T00:00:00Z",
            },
        )
        if i % 3 == 0:
            del row[S.PROMPT]
            row[S.INPUT_MESSAGES] = MESSAGES
        if i % 4 == 0:
            del row[S.REQUEST_ID]
        rows.append(row)
    return rows


def test_fast_path_and_per_row_path_agree() -> None:
    chunk = jsonl(_varied(50))
    limits = Limits()
    fast = read_canonical_chunk(chunk, 1, limits)
    assert fast is not None
    sink = QuarantineSink()
    items = parse_lines(chunk, 1, source="x", limits=limits, quarantine=sink, tally=Tally())
    slow = RowConverter(Mapping.canonical(), limits).convert(items, source="x", quarantine=sink)
    assert slow is not None
    assert fast.table.equals(slow.table)
    assert list(fast.lines) == list(slow.lines)


def test_fast_path_declines_chunks_it_cannot_parse_exactly() -> None:
    limits = Limits()
    good = jsonl([event(1)])
    assert read_canonical_chunk(good, 1, limits) is not None
    for bad in (
        b"{nope}\n",
        jsonl([event(2, **{S.INPUT_TOKENS: "7"})]),
        b'{"gen_ai.input.messages": ' + b"[" * 100 + b"]" * 100 + b"}\n",
    ):
        assert read_canonical_chunk(good + bad, 1, limits) is None


def test_fast_path_takes_code_prompts_full_of_brackets() -> None:
    code = "function f() { return [[{a: [1]}]]; } " * 40
    assert read_canonical_chunk(jsonl([event(1, **{S.PROMPT: code})]), 1, Limits()) is not None


def test_fast_path_survives_a_depth_bomb_in_an_unknown_field() -> None:
    bomb = b'{"junk": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"
    candidate = read_canonical_chunk(jsonl([event(1)]) + bomb, 1, Limits())
    assert candidate is not None and candidate.table.num_rows == 2


def test_derived_prompt_turns_and_content_keys(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_bytes(jsonl(_varied(12)))
    got = table_of(read_events([path]))
    assert got[S.PROMPT].to_pylist()[0] == "derived"
    assert got[S.TURNS].to_pylist()[0] == 1
    keys = got[S.EVENT_KEY].to_pylist()
    assert keys[1] == "req_1"
    assert keys[0].startswith("c_") and len(set(keys)) == 12
    # the content hash is stable across runs
    assert table_of(read_events([path]))[S.EVENT_KEY].to_pylist() == keys


def test_one_bad_line_in_a_big_chunk_keeps_every_other_row(tmp_path: Path) -> None:
    rows: list[object] = [event(i) for i in range(3000)]
    rows[1234] = '{"broken": '
    path = tmp_path / "e.jsonl.gz"
    path.write_bytes(gzip.compress(jsonl(rows)))
    quarantine = tmp_path / "q.jsonl"
    with DuckDBStore(":memory:") as store:
        summary = ingest([path], store=store, quarantine_path=quarantine)
        again = ingest([path], store=store, quarantine_path=quarantine)
        assert store.count() == 2999
    assert_balanced(summary)
    assert_balanced(again)
    assert (again.rows_stored, again.rows_duplicate) == (0, 2999)
    assert [(r["line"], r["reason"]) for r in quarantine_rows(quarantine)] == [
        (1235, "malformed_json")
    ]


def test_batches_are_bounded_and_progress_adds_up(tmp_path: Path) -> None:
    limits = Limits(chunk_bytes=4096)
    path = tmp_path / "e.jsonl"
    path.write_bytes(jsonl([event(i) for i in range(400)] + ["bad"]))
    batches = list(read_events([path], limits=limits))
    assert len(batches) > 5
    assert max(b.num_rows for b in batches) < 100
    assert all(b.schema.equals(S.EVENT_SCHEMA) for b in batches)
    seen: list[int] = []
    with DuckDBStore(":memory:") as store:
        summary = ingest([path], store=store, on_progress=seen.append, limits=limits)
    assert sum(seen) == summary.rows_read == 401
    assert_balanced(summary)


def test_read_events_yields_arrow_in_the_canonical_schema(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_bytes(jsonl([event(i) for i in range(3)]))
    batch = next(read_events([path]))
    assert isinstance(batch, pa.RecordBatch)
    assert batch.schema.equals(S.EVENT_SCHEMA)


def test_store_gets_few_large_appends_in_file_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "_APPEND_ROWS", 100)
    path = tmp_path / "e.jsonl"
    path.write_bytes(jsonl([event(i) for i in range(450)] + ["bad", event(3)]))
    sizes: list[int] = []
    with DuckDBStore(":memory:") as store:
        append = store.append

        def recording(table: pa.Table) -> int:
            sizes.append(table.num_rows)
            return append(table)

        monkeypatch.setattr(store, "append", recording)
        summary = ingest([path], store=store, limits=Limits(chunk_bytes=4096))
        keys = pl.concat(store.scan([S.REQUEST_ID], ordered=False))[S.REQUEST_ID].to_list()
    assert all(size >= 100 for size in sizes[:-1]) and sum(sizes) == 451
    assert keys == [f"req_{i}" for i in range(450)]
    assert (summary.rows_stored, summary.rows_duplicate, summary.rows_quarantined) == (450, 1, 1)
