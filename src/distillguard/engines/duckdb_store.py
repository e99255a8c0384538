"""The embedded store: one DuckDB file with an ``events`` table of canonical columns.

Deduplication is on ``distillguard.event.key``: duplicates inside a batch keep
their first row, and keys already stored are skipped, so ingesting the same file
twice adds nothing. Which keys are stored is asked set-wise, per batch, and only
of batches that can hold one (see ``_insert_new``); rows are stored in the order
given. (A join measured 1.6x faster than a primary-key index with
``INSERT OR IGNORE`` on 100k events.)

Appends share an open transaction, committed every ``commit_bytes`` of input
(512 MiB) and by ``count``, ``scan``, ``export_parquet`` and ``close``: large
transactions let DuckDB write row groups straight to the file instead of through
its write-ahead log (measured ~1.5x faster than a commit per batch). Ingesting
948k events (scripts/bench_ingest.py): committed every 256 MiB, closing the store
took 3.2 s more (its checkpoint rewrites what the commits left) and the file was
1.35 GB; every 512 MiB, 10.2 s in all, a 0.80 GB file and 1.57 GB peak RSS; every
1 GiB, 10.5 s and 2.25 GB peak RSS (uncommitted rows cost memory). Messages stored
with zstd (``_COMPRESSION``) then took the 512 MiB run to 8.2-8.5 s and a 0.77 GB file.
After a crash, re-running the ingest is safe: rows already committed are skipped as
duplicates.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from distillguard import schema as S
from distillguard.closing import Closing

__all__ = ["DEFAULT_MEMORY_LIMIT", "DuckDBStore"]

log = logging.getLogger(__name__)

_SQL_TYPES = {
    "timestamp": "TIMESTAMPTZ",
    "string": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "strings": "VARCHAR[]",
}


# JSON columns compress well with zstd, and DuckDB's own choice for them (FSST) was the slowest
# part of an insert: 948k events' input messages inserted in 2.0 s to 117 MB, with zstd in
# 0.9 s to 49 MB. Prompt text is left to DuckDB: zstd would shrink it ~5x but cost +1.2 s.
_COMPRESSION = {S.INPUT_MESSAGES: "zstd", S.OUTPUT_MESSAGES: "zstd", S.REASONING_TEXT: "zstd"}


def _column(field: S.Field) -> str:
    compression = _COMPRESSION.get(field.name)
    using = f" USING COMPRESSION {compression}" if compression else ""
    return f"{_quote(field.name)} {_SQL_TYPES[field.kind]}{using}"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _first_per_key(table: pa.Table) -> pa.Table:
    """The first row of each event key, in the original order."""
    positions = pa.array(range(table.num_rows), pa.int64())
    first = (
        pa.table({"key": table[S.EVENT_KEY], "pos": positions})
        .group_by("key", use_threads=False)
        .aggregate([("pos", "min")])["pos_min"]
    )
    return table.take(pc.sort_indices(first))


# DuckDB's own default is 80% of RAM, and ``scan``'s time-ordered read sorts whole rows (text
# included): ~2.7 GB resident for 1M events, growing with the store. Capped, DuckDB spills the
# sort to ``<store>.tmp`` instead, so the scan's memory does not grow with the data (ordered
# read of 1M events: 2.7 GB peak RSS uncapped, 2.5 GB at 2 GB, 1.65 GB at 1 GB).
DEFAULT_MEMORY_LIMIT = "1GB"


class DuckDBStore(Closing):
    """Canonical events in a DuckDB file (``":memory:"`` for a throwaway store).

    ``memory_limit`` is DuckDB's (default :data:`DEFAULT_MEMORY_LIMIT`; None: DuckDB's own
    default, 80% of RAM).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        threads: int | None = None,
        memory_limit: str | None = DEFAULT_MEMORY_LIMIT,
        commit_bytes: int = 1 << 29,
    ) -> None:
        self.path = path
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._con = duckdb.connect(str(path))
        self._con.execute("SET TimeZone = 'UTC'")
        if threads:
            self._con.execute(f"SET threads = {int(threads)}")
        self._memory_limit = memory_limit
        if memory_limit:
            self._con.execute("SET memory_limit = ?", [memory_limit])
        self._commit_bytes = commit_bytes
        self._pending_bytes = 0
        columns = ", ".join(_column(f) for f in S.FIELDS)
        self._con.execute(f"CREATE TABLE IF NOT EXISTS events ({columns})")
        existing = [row[0] for row in self._con.execute("DESCRIBE events").fetchall()]
        if existing != list(S.field_names()):
            raise ValueError(
                f"{path}: the events table does not match this version's schema; "
                "ingest into a fresh --data-dir"
            )
        self._select_all = ", ".join(_quote(n) for n in S.field_names())
        self._in_transaction = False
        self._hashes_ready = False
        self._threads = int(self._con.execute("SELECT current_setting('threads')").fetchall()[0][0])

    def append(self, table: pa.Table) -> int:
        """Insert canonical events (missing columns are null); returns how many were new."""
        if table.num_rows == 0:
            return 0
        if table.schema.names != list(S.field_names()):
            present = set(table.schema.names)
            table = pa.Table.from_arrays(
                [
                    table[f.name] if f.name in present else pa.nulls(table.num_rows, f.arrow_type)
                    for f in S.FIELDS
                ],
                names=list(S.field_names()),
            )
        table = table.cast(S.EVENT_SCHEMA)
        keys = table[S.EVENT_KEY]
        if keys.null_count:
            raise ValueError("every event needs distillguard.event.key (ingest assigns it)")
        if pc.count_distinct(keys).as_py() < table.num_rows:
            table = _first_per_key(table)
        if not self._in_transaction:
            self._con.execute("BEGIN TRANSACTION")
            self._in_transaction = True
        # Appends run on one DuckDB thread: inserting 948k events in 65k-row appends took
        # 6.6 CPU-s and 7.0 s on one thread, 8.5 CPU-s and 10.9 s on two (2 vCPU VM); and
        # during ingest the other core is busy parsing the next batch.
        self._con.execute("SET threads = 1")
        try:
            inserted = self._insert_new(table)
        finally:
            self._con.execute(f"SET threads = {self._threads}")
        self._pending_bytes += table.nbytes
        if self._pending_bytes >= self._commit_bytes:
            self.commit()
        return inserted

    def _insert_new(self, table: pa.Table) -> int:
        """Insert the rows of ``table`` (unique keys) whose key is not stored yet, in order.

        Finding stored keys by joining with ``events`` scans and hashes every stored key
        per append (2.7 of 8.6 CPU-s to insert 948k events in 65k-row appends). So the
        64-bit hashes of stored keys are kept in a temp table (8 bytes per stored event):
        a batch none of whose hashes is there is inserted as is; only one with a hit (a
        re-ingest, or a rare collision) asks ``events`` which of its keys it holds.
        The hashes are this connection's: the store must be its file's only writer
        while open (DuckDB already allows one writing process).
        """
        key = _quote(S.EVENT_KEY)
        if not self._hashes_ready:
            self._con.execute(
                f"CREATE OR REPLACE TEMP TABLE _key_hashes AS SELECT hash({key}) AS h FROM events"
            )
            self._hashes_ready = True
        held = "SELECT h FROM _key_hashes"
        self._con.register("_incoming", table)
        try:
            hits = self._con.execute(
                f"SELECT count(*) FROM _incoming WHERE hash({key}) IN ({held})"
            ).fetchall()[0][0]
            if hits:
                stored = self._con.sql(
                    f"SELECT i.{key} FROM _incoming AS i "
                    f"WHERE EXISTS (SELECT 1 FROM events AS e WHERE e.{key} = i.{key})"
                ).to_arrow_table()
                # Filtered in Arrow rather than by an anti-join: a join's output order is
                # not the input's, and storage order should be file order.
                fresh = pc.invert(pc.is_in(table[S.EVENT_KEY], value_set=stored.column(0)))
                table = table.filter(fresh)
                self._con.unregister("_incoming")
                self._con.register("_incoming", table)
            if table.num_rows:
                self._con.execute(f"INSERT INTO events SELECT {self._select_all} FROM _incoming")
                self._con.execute(
                    f"INSERT INTO _key_hashes SELECT hash({key}) FROM _incoming"
                    + (f" WHERE hash({key}) NOT IN ({held})" if hits else "")
                )
        finally:
            self._con.unregister("_incoming")
        return table.num_rows

    def commit(self) -> None:
        """Make appended events durable and visible to other connections."""
        if self._in_transaction:
            self._con.execute("COMMIT")
            self._in_transaction = False
        self._pending_bytes = 0

    def count(self) -> int:
        self.commit()
        rows = self._con.execute("SELECT count(*) FROM events").fetchall()
        return int(rows[0][0])

    def scan(
        self,
        columns: Sequence[str] | None = None,
        batch_size: int = 65_536,
        *,
        ordered: bool = True,
    ) -> Iterator[pl.DataFrame]:
        self.commit()
        self._drop_key_hashes()
        names = list(columns) if columns is not None else list(S.field_names())
        unknown = set(names) - set(S.field_names())
        if unknown:
            raise ValueError(f"unknown event columns: {sorted(unknown)}")
        cursor = self._con.cursor()
        try:
            selected = ", ".join(_quote(n) for n in names)
            # Time order (ties by key) is deterministic whatever order rows arrived in. It is
            # a sort of every selected column, text included: DuckDB holds (or spills) it all,
            # so a caller that can sort its own smaller result asks for storage order instead
            # (400k events, all columns: 1.47 GB peak RSS ordered, 0.78 GB not).
            query = f"SELECT {selected} FROM events"
            if ordered:
                query += f" ORDER BY {_quote(S.TIMESTAMP)}, {_quote(S.EVENT_KEY)}"
            reader: pa.RecordBatchReader = cursor.sql(query).to_arrow_reader(batch_size)
            schema = pa.schema([S.EVENT_SCHEMA.field(n) for n in names])
            for batch in reader:
                # DuckDB names the zone "Etc/UTC"; hand back exactly the canonical types.
                frame = pl.from_arrow(batch.cast(schema))
                assert isinstance(frame, pl.DataFrame)
                yield frame
        finally:
            cursor.close()
            self._release_cache()

    def _drop_key_hashes(self) -> None:
        """Free the append path's key hashes: a read means the writes are done (a scan
        ingests first), and they would stay in memory through the scan (0.18 GB at 10M
        events). The next append builds them again."""
        if self._hashes_ready:
            self._con.execute("DROP TABLE IF EXISTS _key_hashes")
            self._hashes_ready = False

    def _release_cache(self) -> None:
        """Drop the blocks a finished read left in DuckDB's buffer pool (they are on disk).

        DuckDB keeps what it read up to ``memory_limit``, and nothing else frees it: after
        the 1M-event scan's read, 0.74 GB stayed resident through detection. Lowering the
        limit evicts them (1.22 -> 0.25 GB RSS); the limit is then put back. An in-memory
        store's blocks are its data, so it keeps them.
        """
        if str(self.path) == ":memory:":
            return
        try:
            self._con.execute("SET memory_limit = '32MB'")
        except duckdb.Error as exc:  # blocks still pinned by another reader: keep them
            log.debug("buffer pool not released: %s", exc)
        finally:
            if self._memory_limit:
                self._con.execute("SET memory_limit = ?", [self._memory_limit])
            else:
                self._con.execute("RESET memory_limit")

    def export_parquet(self, path: Path) -> None:
        self.commit()
        path.parent.mkdir(parents=True, exist_ok=True)
        target = str(path).replace("'", "''")
        self._con.execute(
            f"COPY (SELECT {self._select_all} FROM events "
            f"ORDER BY {_quote(S.TIMESTAMP)}, {_quote(S.EVENT_KEY)}) "
            f"TO '{target}' (FORMAT parquet)"
        )

    def close(self) -> None:
        self.commit()
        self._con.close()
