"""Subject-index lookup tables."""

from __future__ import annotations

import polars as pl


def test_by_subject_index_lays_values_out_by_index_with_nulls_between() -> None:
    from distillguard.accounts.base import SUBJECT, by_subject_index

    values = pl.DataFrame(
        {SUBJECT: [3, 0], "cluster": [7, 9]}, schema_overrides={SUBJECT: pl.UInt32}
    )
    table = by_subject_index(values, pl.Series([5, 1], dtype=pl.UInt32))
    assert table.get_column(SUBJECT).to_list() == [0, 1, 2, 3, 4, 5]
    assert table.get_column("cluster").to_list() == [9, None, None, 7, None, None]
    assert table.get_column("cluster").gather(pl.Series([3, 3, 0])).to_list() == [7, 7, 9]
    empty = by_subject_index(values.clear(), pl.Series([], dtype=pl.UInt32))
    assert empty.height == 0 and empty.columns == [SUBJECT, "cluster"]
