"""Complementary coverage: accounts that split one public query pool between them.

A campaign that must cover a benchmark without tripping per-account
near-duplicate detectors (SEAT, AISec 2021) hands each account a disjoint slice:
each account alone looks like a modest user of the dataset, but together they
cover it with almost no overlap. An evaluator re-running a benchmark does the
opposite: every run covers the same items.

Low overlap only means something where chance would have produced overlap: two
students who each asked 30 of MMLU's 14,000 questions share none by chance. So
an edge is drawn only when the expected number of shared items under
independent draws, E = n_a * n_b / |D|, is large enough, and it weighs
1 - shared / E (how far below chance the overlap falls).
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from distillguard.accounts.base import DATASET_ITEM, DATASET_NAME, SUBJECT
from distillguard.networks.base import EDGE_SCHEMA
from distillguard.networks.edges import BASE_WEIGHTS, idf, shared_key_edges

__all__ = ["coverage_edges", "dataset_items"]


def dataset_items(frame: pl.DataFrame, *, min_items: int = 5) -> pl.DataFrame:
    """Distinct (subject, dataset, item) rows for subjects with at least ``min_items`` items."""
    items = (
        frame.select(SUBJECT, DATASET_NAME, DATASET_ITEM)
        .filter(pl.col(DATASET_ITEM).is_not_null() & pl.col(DATASET_NAME).is_not_null())
        .unique()
    )
    return items.filter(pl.len().over(SUBJECT, DATASET_NAME) >= min_items)


def coverage_edges(
    frame: pl.DataFrame,
    *,
    min_items: int = 5,
    max_overlap: float = 0.5,
    min_expected: float = 3.0,
    min_size_ratio: float = 0.25,
    dataset_sizes: Mapping[str, int] | None = None,
    population: int,
    max_group: int = 5000,
    clique_cap: int = 64,
    neighbours: int = 16,
) -> pl.DataFrame:
    """Edges between subjects drawing many items from one dataset with little overlap.

    Weight: base x rarity of co-targeting the dataset x (1 - shared / E) x
    min(1, E / min_expected). ``dataset_sizes`` gives |D|; a dataset missing
    there is sized by the distinct items of it seen in the frame. Slices of a split
    pool are of comparable size (load balancing), so pairs whose item counts differ
    by more than 1 / ``min_size_ratio`` are not compared: a full benchmark sweep
    next to a modest user is not a split.
    """
    items = dataset_items(frame, min_items=min_items)
    if items.height == 0:
        return pl.DataFrame(schema=EDGE_SCHEMA)
    members = items.select(SUBJECT, pl.col(DATASET_NAME).alias("key")).unique()
    candidates, _ = shared_key_edges(
        members,
        kind="coverage",
        population=population,
        max_group=max_group,
        clique_cap=clique_cap,
        neighbours=neighbours,
    )
    counts = items.group_by(SUBJECT, DATASET_NAME).agg(pl.len().alias("n"))
    seen = (
        frame.select(DATASET_NAME, DATASET_ITEM)
        .filter(pl.col(DATASET_ITEM).is_not_null())
        .group_by(DATASET_NAME)
        .agg(pl.col(DATASET_ITEM).n_unique().alias("_seen"))
    )
    known = pl.DataFrame(
        {DATASET_NAME: list((dataset_sizes or {}).keys()),
         "_size": list((dataset_sizes or {}).values())},
        schema={DATASET_NAME: pl.Utf8, "_size": pl.Int64},
    )  # fmt: skip
    sizes = seen.join(known, on=DATASET_NAME, how="left").select(
        DATASET_NAME, pl.max_horizontal("_seen", "_size").cast(pl.Float64).alias("_d")
    )
    a = items.rename({SUBJECT: "src", DATASET_ITEM: "item"})
    b = items.rename({SUBJECT: "dst", DATASET_ITEM: "item"})
    pairs = candidates.select(
        "src", "dst", pl.col("key").alias(DATASET_NAME), "group_size", "pairs"
    )
    shared = (
        pairs.join(a, on=["src", DATASET_NAME])
        .join(b, on=["dst", DATASET_NAME, "item"])
        .group_by("src", "dst", DATASET_NAME)
        .agg(pl.len().alias("shared"))
    )
    scored = (
        pairs.join(shared, on=["src", "dst", DATASET_NAME], how="left")
        .with_columns(pl.col("shared").fill_null(0))
        .join(counts.rename({SUBJECT: "src", "n": "n_src"}), on=["src", DATASET_NAME])
        .join(counts.rename({SUBJECT: "dst", "n": "n_dst"}), on=["dst", DATASET_NAME])
        .join(sizes, on=DATASET_NAME)
        .with_columns(
            (pl.col("shared") / pl.min_horizontal("n_src", "n_dst")).alias("overlap"),
            (pl.col("n_src").cast(pl.Float64) * pl.col("n_dst") / pl.col("_d")).alias("expected"),
        )
        .filter(
            (pl.col("overlap") <= max_overlap)
            & (
                pl.min_horizontal("n_src", "n_dst")
                >= min_size_ratio * pl.max_horizontal("n_src", "n_dst")
            )
        )
    )
    return (
        scored.select(
            "src",
            "dst",
            pl.lit("coverage").alias("kind"),
            pl.format(
                "{} ({}% overlap)", pl.col(DATASET_NAME), (pl.col("overlap") * 100).round(1)
            ).alias("key"),
            "group_size",
            (
                BASE_WEIGHTS["coverage"]
                * idf(pl.col("group_size"), population, max_group)
                * (1.0 - pl.col("shared") / pl.col("expected")).clip(0.0, 1.0)
                * (pl.col("expected") / min_expected).clip(0.0, 1.0)
            ).alias("weight"),
            "pairs",
        )
        .filter(pl.col("weight") > 0)
        .cast(EDGE_SCHEMA)
    )
