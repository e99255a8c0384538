"""Loose synchrony and succession edges.

Synchrony follows SynchroTrap (Cao et al., CCS 2014) and CopyCatch (Beutel et
al., WWW 2013): two subjects that send the same template in the same time
buckets again and again are acting in lockstep. Similarity is measured per
pair (Jaccard over (template, bucket) cells) on two bucket grids offset by
half a bucket, so no single global bucket boundary decides.

Succession follows the "hydra cluster" reports (Anthropic, Feb 2026: "when one
account is banned, a new one takes its place"): a subject that starts within a
few hours of another one's last request, sharing its templates or
infrastructure.
"""

from __future__ import annotations

import polars as pl

from distillguard import schema as S
from distillguard.accounts.base import SUBJECT, TEMPLATE_CLUSTER
from distillguard.networks.base import EDGE_SCHEMA, PAIR, pair_ends, pair_key
from distillguard.networks.edges import BASE_WEIGHTS, group_pairs

__all__ = ["succession_edges", "synchrony_edges"]


# Cells whose co-occurring pairs are counted at once (bounds the pair rows in memory).
_CELLS_PER_SLICE = 1_000_000


def synchrony_edges(
    frame: pl.DataFrame,
    *,
    bucket_minutes: float = 30.0,
    min_cells: int = 3,
    min_jaccard: float = 0.2,
    max_template_subjects: int = 5000,
    clique_cap: int = 64,
    neighbours: int = 16,
) -> pl.DataFrame:
    """Pairs of subjects active on the same templates in the same time buckets."""
    width_us = int(bucket_minutes * 60 * 1_000_000)
    epoch = pl.col(S.TIMESTAMP).dt.epoch("us")
    # Three columns, not the frame: an eager filter would copy every column of most rows.
    used = frame.select(SUBJECT, TEMPLATE_CLUSTER, S.TIMESTAMP).filter(
        pl.col(TEMPLATE_CLUSTER).is_not_null()
    )
    per_template = used.group_by(TEMPLATE_CLUSTER).agg(pl.col(SUBJECT).n_unique().alias("ns"))
    keep = per_template.filter(
        (pl.col("ns") >= 2) & (pl.col("ns") <= max_template_subjects)
    ).select(TEMPLATE_CLUSTER)
    used = used.join(keep, on=TEMPLATE_CLUSTER, how="semi")
    best: pl.DataFrame | None = None
    for offset in (0, width_us // 2):
        # Streaming engine: the in-memory unique of ~10M (subject, cell) rows peaked at +2 GB.
        cells = (
            used.lazy()
            .select(
                SUBJECT,
                pl.struct(TEMPLATE_CLUSTER, ((epoch + offset) // width_us).alias("_b"))
                .hash(seed=0)
                .alias("key"),
            )
            .unique()
            .collect(engine="streaming")
        )
        sizes = cells.group_by(SUBJECT).agg(pl.len().alias("cells"))
        # Co-occurrences counted a slice of cells at a time (every cell wholly in one slice):
        # the (cell, pair) rows of all cells at once took ~3.5 GB at 10M events.
        slices = max(1, -(-cells.height // _CELLS_PER_SLICE))
        counts = []
        for part in range(slices):
            sliced = cells.filter(pl.col("key") % slices == part) if slices > 1 else cells
            pairs, _ = group_pairs(
                sliced, max_group=max_template_subjects, clique_cap=clique_cap,
                neighbours=neighbours,
            )  # fmt: skip
            counts.append(pairs.group_by(pair_key()).agg(pl.len().alias("co")))
            del pairs
        # Most pairs share a cell or two: dropped before their ends are looked up.
        co = (
            pl.concat(counts)
            .lazy()
            .group_by(PAIR)
            .agg(pl.col("co").sum())
            .filter(pl.col("co") >= min_cells)
            .select(*pair_ends(), "co")
            .collect(engine="streaming")
        )
        del counts
        scored = (
            co.join(sizes.rename({SUBJECT: "src", "cells": "cells_src"}), on="src")
            .join(sizes.rename({SUBJECT: "dst", "cells": "cells_dst"}), on="dst")
            .with_columns(
                (pl.col("co") / (pl.col("cells_src") + pl.col("cells_dst") - pl.col("co"))).alias(
                    "jaccard"
                )
            )
            .filter(pl.col("jaccard") >= min_jaccard)
        )
        best = scored if best is None else pl.concat([best, scored])
    assert best is not None
    best = best.group_by("src", "dst").agg(pl.col("jaccard").max(), pl.col("co").max())
    return best.select(
        "src",
        "dst",
        pl.lit("synchrony").alias("kind"),
        pl.format("{} shared buckets", pl.col("co")).alias("key"),
        pl.lit(2, dtype=pl.UInt32).alias("group_size"),
        (BASE_WEIGHTS["synchrony"] * pl.col("jaccard")).alias("weight"),
        pl.lit(1.0).alias("pairs"),
    ).cast(EDGE_SCHEMA)


def succession_edges(
    candidates: pl.DataFrame,
    profiles: pl.DataFrame,
    *,
    gap_hours: float = 6.0,
) -> pl.DataFrame:
    """Pairs (stopped, successor) among ``candidates`` (edges of sharing kinds).

    The predecessor's last request is at least ``gap_hours`` before the data ends
    (it really stopped), the successor is a new account (created inside the data:
    replacements are fresh registrations) and its first request falls within
    ``gap_hours`` after the predecessor's last, and not before the predecessor started.
    """
    if candidates.height == 0:
        return pl.DataFrame(schema=EDGE_SCHEMA)
    end = profiles["last_ts"].max()
    span = profiles.select(SUBJECT, "first_ts", "last_ts", "new_account")
    pairs = candidates.select("src", "dst").unique()
    both = pl.concat(
        [pairs, pairs.select(pl.col("dst").alias("src"), pl.col("src").alias("dst"))]
    ).rename({"src": "a", "dst": "b"})
    gap = pl.duration(seconds=int(gap_hours * 3600))
    found = (
        both.join(
            span.rename(
                {SUBJECT: "a", "first_ts": "a_first", "last_ts": "a_last", "new_account": "a_new"}
            ),
            on="a",
        )
        .join(
            span.rename(
                {SUBJECT: "b", "first_ts": "b_first", "last_ts": "b_last", "new_account": "b_new"}
            ),
            on="b",
        )
        .filter(
            pl.col("b_new")
            & (pl.col("a_last") <= pl.lit(end) - gap)
            & (pl.col("b_first") >= pl.col("a_last") - gap / 2)
            & (pl.col("b_first") <= pl.col("a_last") + gap)
            & (pl.col("b_first") > pl.col("a_first"))
        )
    )
    return (
        found.select(
            pl.min_horizontal("a", "b").alias("src"),
            pl.max_horizontal("a", "b").alias("dst"),
            pl.lit("succession").alias("kind"),
            pl.format(
                "starts {} min after the other stops",
                ((pl.col("b_first") - pl.col("a_last")).dt.total_minutes()),
            ).alias("key"),
            pl.lit(2, dtype=pl.UInt32).alias("group_size"),
            pl.lit(BASE_WEIGHTS["succession"]).alias("weight"),
            pl.lit(1.0).alias("pairs"),
        )
        .unique(subset=["src", "dst"], keep="first")
        .sort("src", "dst")
        .cast(EDGE_SCHEMA)
    )
