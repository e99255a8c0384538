from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from distillguard import schema as S
from distillguard.engines.base import Store
from distillguard.engines.duckdb_store import DuckDBStore


def _events(keys: list[str], minute: int = 0) -> pa.Table:
    n = len(keys)
    rows = {
        S.TIMESTAMP: pa.array(
            [1_772_366_400_000_000 + (minute + i) * 60_000_000 for i in range(n)]
        ).cast(pa.timestamp("us", tz="UTC")),
        S.EVENT_KEY: keys,
        S.ACCOUNT: [f"a{i % 2}" for i in range(n)],
        S.PROMPT: [f"prompt {k}" for k in keys],
        S.FINISH_REASONS: [["stop"]] * n,
    }
    return pa.Table.from_pydict(rows).select(list(rows))  # subset, in a different order


def test_store_implements_the_protocol() -> None:
    with DuckDBStore(":memory:") as store:
        assert isinstance(store, Store)


def test_append_counts_new_rows_and_skips_duplicates(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path / "s.duckdb") as store:
        assert store.append(_events(["a", "b", "c"])) == 3
        assert store.append(_events(["b", "c", "d", "d"], minute=10)) == 1
        assert store.append(_events([])) == 0
        assert store.count() == 4
        frame = pl.concat(list(store.scan([S.EVENT_KEY, S.PROMPT], batch_size=2)))
    assert frame.columns == [S.EVENT_KEY, S.PROMPT]
    assert frame[S.EVENT_KEY].to_list() == ["a", "b", "c", "d"]
    assert frame[S.PROMPT].to_list()[1] == "prompt b"  # first copy kept


def test_store_persists_and_rejects_a_foreign_schema(tmp_path: Path) -> None:
    path = tmp_path / "data" / "s.duckdb"
    with DuckDBStore(path) as store:
        store.append(_events(["a", "b"]))
    with DuckDBStore(path) as store:
        assert store.count() == 2
        assert store.append(_events(["a", "z"])) == 1
    import duckdb

    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE events (x INT)")
    con.close()
    with pytest.raises(ValueError, match="schema"):
        DuckDBStore(other)


def test_scan_streams_all_columns_in_time_order_with_typed_columns() -> None:
    with DuckDBStore(":memory:") as store:
        store.append(_events(["late"], minute=50))
        store.append(_events(["early"], minute=1))
        frames = list(store.scan(None, batch_size=1))
        with pytest.raises(ValueError, match="unknown"):
            list(store.scan(["nope"]))
    assert [f.height for f in frames] == [1, 1]
    frame = pl.concat(frames)
    assert frame.columns == list(S.field_names())
    assert frame[S.EVENT_KEY].to_list() == ["early", "late"]
    assert frame.schema[S.TIMESTAMP] == pl.Datetime("us", "UTC")
    assert frame.schema[S.FINISH_REASONS] == pl.List(pl.String)


def test_unordered_scan_streams_every_event_once_in_storage_order() -> None:
    with DuckDBStore(":memory:") as store:
        store.append(_events(["late-a", "late-b"], minute=50))
        store.append(_events(["early"], minute=1))
        frames = list(store.scan([S.EVENT_KEY, S.TIMESTAMP], batch_size=2, ordered=False))
        ordered = pl.concat(store.scan([S.EVENT_KEY, S.TIMESTAMP]))
    unordered = pl.concat(frames)
    assert all(f.height <= 2 for f in frames)
    assert unordered[S.EVENT_KEY].to_list() == ["late-a", "late-b", "early"]  # as inserted
    assert unordered.sort(S.TIMESTAMP, S.EVENT_KEY).equals(ordered)


def test_append_requires_keys_and_export_writes_parquet(tmp_path: Path) -> None:
    with DuckDBStore(":memory:") as store:
        store.append(_events(["a", "b"]))
        with pytest.raises(ValueError, match=r"event\.key"):
            store.append(_events(["a"]).set_column(1, S.EVENT_KEY, pa.array([None], pa.string())))
        store.export_parquet(tmp_path / "out" / "events.parquet")
    table = pq.read_table(tmp_path / "out" / "events.parquet")
    assert table.num_rows == 2
    assert table.schema.names == list(S.field_names())


def test_memory_is_capped_by_default(tmp_path: Path) -> None:
    import duckdb

    from distillguard.engines.duckdb_store import DEFAULT_MEMORY_LIMIT

    def setting(con: duckdb.DuckDBPyConnection) -> str:
        row = con.execute("SELECT current_setting('memory_limit')").fetchone()
        assert row is not None
        return str(row[0])

    reference = duckdb.connect()
    reference.execute("SET memory_limit = ?", [DEFAULT_MEMORY_LIMIT])
    with DuckDBStore(tmp_path / "s.duckdb") as store:
        assert setting(store._con) == setting(reference)
    reference.execute("SET memory_limit = '512MB'")
    with DuckDBStore(tmp_path / "t.duckdb", memory_limit="512MB") as store:
        assert setting(store._con) == setting(reference)


def test_dedup_holds_across_appends_with_and_without_stored_keys(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with DuckDBStore(path) as store:
        assert store.append(_events(["a", "b"])) == 2
        assert store.append(_events(["c", "d"])) == 2  # no stored key: plain insert
        assert store.append(_events(["d", "e", "a", "f"])) == 2  # some stored: exact check
        assert store.append(_events(["e", "f", "g"])) == 1  # keys added by the mixed batch
    with DuckDBStore(path) as store:  # reopened: stored keys are known again
        assert store.append(_events(["a", "g", "h"])) == 1
        assert store.count() == 8


def test_append_leaves_the_thread_setting_as_configured() -> None:
    with DuckDBStore(":memory:", threads=2) as store:
        store.append(_events(["a"]))
        row = store._con.execute("SELECT current_setting('threads')").fetchone()
    assert row is not None and int(row[0]) == 2


def test_message_columns_are_stored_with_zstd_and_read_back_intact(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    table = _events([f"k{i}" for i in range(3000)])
    filler = "x" * 200
    messages = [f'[{{"role":"user","content":"question {i} {filler}"}}]' for i in range(3000)]
    table = table.append_column(S.INPUT_MESSAGES, pa.array(messages))
    with DuckDBStore(path) as store:
        store.append(table)
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    compressions = {
        row[0]
        for row in con.execute(
            "SELECT compression FROM pragma_storage_info('events') "
            "WHERE column_name = ? AND segment_type = 'VARCHAR'",
            [S.INPUT_MESSAGES],
        ).fetchall()
    }
    stored = [r[0] for r in con.execute(f'SELECT "{S.INPUT_MESSAGES}" FROM events').fetchall()]
    con.close()
    assert compressions == {"ZSTD"}
    assert stored == messages


def test_a_finished_scan_leaves_no_blocks_cached_and_the_limit_as_configured(
    tmp_path: Path,
) -> None:
    import os

    def cached_mib(store: DuckDBStore) -> float:
        row = store._con.execute(
            "SELECT sum(memory_usage_bytes) / 2^20 FROM duckdb_memory()"
        ).fetchone()
        assert row is not None
        return float(row[0])

    keys = [f"k{i}" for i in range(80_000)]
    text = pa.array([os.urandom(1000).hex() for _ in keys])  # 160 MB; ~80 MB compressed
    table = _events(keys).set_column(3, S.PROMPT, text)
    with DuckDBStore(tmp_path / "s.duckdb", memory_limit="512MB") as store:
        store.append(table)
        store.commit()
        store._con.execute(f'SELECT max(length("{S.PROMPT}")) FROM events').fetchall()
        assert cached_mib(store) > 64  # what a read leaves behind
        reader = store.scan([S.PROMPT], batch_size=4096, ordered=False)
        rows = sum(b.height for b in reader)
        assert rows == 80_000
        assert cached_mib(store) <= 32
        row = store._con.execute("SELECT current_setting('memory_limit')").fetchone()
        assert row is not None and row[0] == "488.2 MiB"  # 512MB, as configured
        assert store.count() == 80_000  # still readable
    with DuckDBStore(":memory:") as store:  # an in-memory store's blocks are its data
        store.append(table)
        assert sum(b.height for b in store.scan([S.PROMPT], ordered=False)) == 80_000
        assert store.count() == 80_000


def test_a_scan_frees_the_key_hashes_and_later_appends_still_skip_duplicates() -> None:
    def temp_tables(store: DuckDBStore) -> list[str]:
        rows = store._con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary")
        return [r[0] for r in rows.fetchall()]

    with DuckDBStore(":memory:") as store:
        assert store.append(_events(["a", "b"])) == 2
        assert temp_tables(store) == ["_key_hashes"]
        assert sum(b.height for b in store.scan([S.EVENT_KEY], ordered=False)) == 2
        assert temp_tables(store) == []
        assert store.append(_events(["b", "c"])) == 1  # hashes rebuilt from the stored events
        assert store.append(_events(["c", "d"])) == 1
        assert store.count() == 4
