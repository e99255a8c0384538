"""The feature frame: compact, in memory of its own, and time-ordered on request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pyarrow as pa
from polars.testing import assert_frame_equal

from distillguard import schema as S
from distillguard.pipeline import _compact, feature_frame
from distillguard.signals import SignalRunner

START = datetime(2026, 3, 1, tzinfo=UTC)


def _addresses(arrays: list[pa.Array]) -> set[int]:
    return {b.address for a in arrays for b in a.buffers() if b is not None and b.size}


def _exported(frame: pl.DataFrame) -> set[int]:
    newest = pl.CompatLevel.newest()
    return _addresses([frame.get_column(c).to_arrow(compat_level=newest) for c in frame.columns])


def _batch(n: int) -> pa.Table:
    """An Arrow batch as the store hands it over: long strings, numbers, nulls."""
    return pa.table(
        {
            S.TIMESTAMP: pa.array([START + timedelta(seconds=i // 2) for i in range(n)]),
            S.ACCOUNT: [f"account-with-a-long-id-{i % 3}" for i in range(n)],
            S.EVENT_KEY: [f"request-key-{n - i:08d}" for i in range(n)],
            S.ORG: [None if i % 4 == 0 else f"organisation-{i % 2}" for i in range(n)],
            S.MAX_TOKENS: [None if i % 5 == 0 else 64 * i for i in range(n)],
        }
    )


def test_compact_shares_no_buffer_with_the_batch_and_keeps_values() -> None:
    table = _batch(40)
    part = pl.from_arrow(table)
    assert isinstance(part, pl.DataFrame)
    out = _compact(part)
    source = _addresses([c.chunk(0) for c in table.columns])
    assert _exported(part) & source  # what a plain select would keep alive
    assert not _exported(out) & source
    assert out.schema[S.ORG] == pl.Categorical
    assert out.schema[S.ACCOUNT] == out.schema[S.EVENT_KEY] == pl.String
    assert_frame_equal(out.with_columns(pl.col(S.ORG).cast(pl.String)), part)


def test_feature_frame_keeps_batch_order_and_clusters_every_row() -> None:
    runner = SignalRunner.from_config(
        {"signals": {s: {"enabled": False} for s in ("jailbreak", "dataset")}}
    )
    events = pl.from_arrow(_batch(30)).with_columns(
        pl.format(
            "prompt number {} about topic {}", pl.int_range(30) % 7, pl.int_range(30) % 3
        ).alias(S.PROMPT),
        pl.lit("You are a helpful assistant.").alias(S.SYSTEM),
    )
    assert isinstance(events, pl.DataFrame)
    batches = [events.slice(i, 7) for i in (21, 0, 14, 28, 7)]
    frame = feature_frame(iter(batches), runner=runner)
    assert_frame_equal(
        frame.select(S.TIMESTAMP, S.EVENT_KEY, S.MAX_TOKENS),
        pl.concat(batches).select(S.TIMESTAMP, S.EVENT_KEY, S.MAX_TOKENS),
    )
    assert frame.get_column("template.cluster").null_count() == 0
    assert frame.get_column("system.id").n_unique() == 1


def test_sorting_by_subject_in_place_is_the_canonical_order_and_takes_the_frame() -> None:
    from distillguard.accounts.base import SUBJECT, SUBJECT_KEYS, ensure_columns, subject_index
    from distillguard.accounts.profile import with_subject_taken

    table = _batch(50)
    frame = _compact(pl.from_arrow(table)).with_columns(  # type: ignore[arg-type]
        pl.when(pl.int_range(50) % 6 == 0).then(pl.lit("u-1")).otherwise(None).alias(S.ENDUSER),
        pl.col(S.TIMESTAMP).reverse(),  # so the sort has something to do
    )
    # The canonical order spelled out: subject index joined in, sorted by subject, time, key.
    keyed = ensure_columns(frame)
    want = keyed.join(
        subject_index(keyed), on=list(SUBJECT_KEYS), how="left", nulls_equal=True
    ).sort([SUBJECT, S.TIMESTAMP, S.EVENT_KEY], nulls_last=True, maintain_order=True)
    holder = [frame]
    got = with_subject_taken(holder)
    assert holder == []  # the caller keeps no reference to the unsorted frame
    assert_frame_equal(got, want.select(got.columns))
    assert got.columns[-1] == SUBJECT
    assert S.EVENT_KEY not in got.columns  # it only broke ties
    assert with_subject_taken([got]) is got  # already sorted: nothing to do
