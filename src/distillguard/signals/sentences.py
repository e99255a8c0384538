"""SentenceIndex: near-duplicate and containment matching of requests against known texts.

Used for public-dataset membership (``dataset.py``) and known jailbreak templates
(``jailbreak.py``). Every normalised sentence of at least ``MIN_CHARS`` characters is hashed;
a request matches an item when it contains a large share of that item's sentence hashes. That
catches an item embedded in a wrapper ("Answer this: <question> Reply in JSON"), which a
whole-text hash misses, at the cost of one vectorised split + hash + join per batch (no per-row
Python, no per-request MinHash). Sentences shared by many items ("which of the following is
true") are dropped from the index: they identify nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

__all__ = ["MIN_CHARS", "IndexedItem", "SentenceIndex", "exact_keys", "sentence_keys"]

log = logging.getLogger(__name__)

MIN_CHARS = 30
MAX_ITEMS_PER_KEY = 3
_TERMINATORS = r"[.!?;。！？；\n]+"
_SEED = 0x5E17
# Bounded work per request: a 5 MB paste is matched on its first 10k characters.
MAX_SCAN_CHARS = 10_000


@dataclass(frozen=True)
class IndexedItem:
    source: str
    item_id: str
    text: str


def _clean(expr: pl.Expr) -> pl.Expr:
    # Text is already space-collapsed: matching only non-word, non-space runs is far cheaper.
    return expr.str.replace_all(r"[^\w ]+", " ").str.replace_all(r"  +", " ").str.strip_chars()


def sentence_keys(texts: pl.Series) -> pl.DataFrame:
    """Columns ``row`` (UInt32) and ``key`` (UInt64): distinct sentence hashes per text."""
    frame = pl.DataFrame({"t": texts.fill_null("")}).with_row_index("row")
    # Terminators -> NUL, then a literal split: 2x faster than extract_all with a regex.
    # Short pieces are dropped before the (costlier) cleaning pass.
    pieces = pl.col("t").str.head(MAX_SCAN_CHARS).str.replace_all(_TERMINATORS, "\x00")
    return (
        frame.select(pl.col("row"), pieces.str.split("\x00").alias("s"))
        .explode("s")
        .filter(pl.col("s").str.len_bytes() >= MIN_CHARS)
        .with_columns(_clean(pl.col("s")).alias("s"))
        .filter(pl.col("s").str.len_chars() >= MIN_CHARS)
        .select(pl.col("row"), pl.col("s").hash(seed=_SEED).alias("key"))
        .unique()
    )


EXACT_MIN_CHARS = 8


def exact_keys(texts: pl.Series) -> pl.Series:
    """Hash of the whole normalised text with punctuation stripped; null when too short to
    identify anything (so empty prompts never match an item made of punctuation)."""
    # Cleaned in a select of its own: an expression named twice in one eager select runs twice.
    clean = pl.col("c")
    return (
        pl.DataFrame({"t": texts.fill_null("")})
        .select(_clean(pl.col("t").str.head(MAX_SCAN_CHARS)).alias("c"))
        .select(
            pl.when(clean.str.len_chars() >= EXACT_MIN_CHARS)
            .then(clean.hash(seed=_SEED + 1))
            .alias("exact")
        )
        .to_series()
    )


class SentenceIndex:
    """Sentence-hash index over a fixed set of items; immutable once built."""

    def __init__(self, items: pl.DataFrame, keys: pl.DataFrame, exact: pl.DataFrame) -> None:
        self.items = items  # item (UInt32), source, item_id, n_keys
        self.keys = keys  # key (UInt64), item (UInt32)
        self.exact = exact  # exact (UInt64), item (UInt32)

    @classmethod
    def build(cls, items: Sequence[IndexedItem]) -> SentenceIndex:
        from distillguard.signals.text import normalise

        texts = normalise(pl.Series([i.text for i in items], dtype=pl.String))
        meta = pl.DataFrame(
            {
                "source": [i.source for i in items],
                "item_id": [i.item_id for i in items],
            },
            schema={"source": pl.String, "item_id": pl.String},
        ).with_row_index("item")
        keys = sentence_keys(texts).rename({"row": "item"})
        common = (
            keys.group_by("key").agg(pl.len().alias("n")).filter(pl.col("n") > MAX_ITEMS_PER_KEY)
        )
        keys = keys.join(common.select("key"), on="key", how="anti")
        counts = keys.group_by("item").agg(pl.len().cast(pl.UInt32).alias("n_keys"))
        meta = meta.join(counts, on="item", how="left").with_columns(pl.col("n_keys").fill_null(0))
        exact = (
            pl.DataFrame({"exact": exact_keys(texts)})
            .with_row_index("item")
            .drop_nulls("exact")
            .unique("exact", keep="first")
        )
        log.info("sentence index: %d items, %d keys", meta.height, keys.height)
        return cls(meta, keys, exact)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.items.write_parquet(directory / "items.parquet")
        self.keys.write_parquet(directory / "keys.parquet")
        self.exact.write_parquet(directory / "exact.parquet")

    @classmethod
    def open(cls, directory: Path) -> SentenceIndex:
        return cls(
            pl.read_parquet(directory / "items.parquet"),
            pl.read_parquet(directory / "keys.parquet"),
            pl.read_parquet(directory / "exact.parquet"),
        )

    def sizes(self) -> dict[str, int]:
        grouped = self.items.group_by("source").agg(pl.len())
        return {str(s): int(n) for s, n in grouped.iter_rows()}

    def match(
        self,
        texts: pl.Series,
        keys: pl.DataFrame | None = None,
        exact: pl.Series | None = None,
    ) -> pl.DataFrame:
        """Best item per text: ``source``, ``item_id``, ``containment`` (share of the item's
        sentences present, 1.0 for an exact match), ``matched`` (sentences), ``exact``.
        One row per input, in order; nulls where nothing matched."""
        n = texts.len()
        base = pl.DataFrame({"row": pl.arange(0, n, dtype=pl.UInt32, eager=True)})
        exact_hits = (
            pl.DataFrame({"exact": exact if exact is not None else exact_keys(texts)})
            .with_row_index("row")
            .drop_nulls("exact")
            .join(self.exact, on="exact", how="inner")
            .select(
                "row",
                "item",
                pl.lit(1.0).alias("containment"),
                pl.lit(0, pl.UInt32).alias("matched"),
                pl.lit(True).alias("is_exact"),
            )
        )
        keys = keys if keys is not None else sentence_keys(texts)
        hits = keys.join(self.keys, on="key", how="inner")
        near = (
            hits.group_by("row", "item")
            .agg(pl.len().cast(pl.UInt32).alias("matched"))
            .join(self.items.select("item", "n_keys"), on="item")
            .select(
                "row",
                "item",
                (pl.col("matched") / pl.col("n_keys")).alias("containment"),
                "matched",
                pl.lit(False).alias("is_exact"),
            )
        )
        best = (
            pl.concat([exact_hits, near])
            # Ties (an item indexed under several datasets) go to the item indexed first, so
            # the answer never depends on hash-table order.
            .sort(
                ["row", "is_exact", "containment", "matched", "item"],
                descending=[False, True, True, True, False],
            )
            .unique("row", keep="first", maintain_order=True)
            .join(self.items.select("item", "source", "item_id"), on="item", how="left")
        )
        return base.join(best, on="row", how="left", maintain_order="left").drop("row", "item")
