"""Split benchmarks: rings that hand each account its own slice of one public query pool.

Pairwise such a split is invisible (two independent users of MMLU's 14,000 items share
0.03 items on average); a group is not (the birthday problem). ``dataset_split`` measures
how far below chance a cluster's members overlap, ``extend_split_clusters`` adds the
loosely tied slices of a split ring that CPM left out, and ``dataset_participation`` says
how fully a member takes its slice (what ties it into a split ring).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import polars as pl

from distillguard.accounts.base import DATASET_ITEM, DATASET_NAME, SUBJECT
from distillguard.networks.base import CLUSTER

__all__ = ["dataset_participation", "dataset_split", "extend_split_clusters"]


def dataset_split(
    frame: pl.DataFrame,
    membership: pl.DataFrame,
    sizes: Mapping[str, int] | None = None,
    *,
    min_sigma: float = 2.0,
    full_sigma: float = 4.0,
    max_over_median: float = 4.0,
) -> pl.DataFrame:
    """Per cluster: did many of its members split a public dataset between them?

    Pairwise, a 20-item slice of MMLU's 14,000 items says nothing (two independent users
    share 0.03 items on average). A group does: 44 accounts asking 700 items between them
    would share about 17 by chance (birthday problem), and a ring that hands out disjoint
    slices shares none. Per dataset, over the k members that asked it:

    - expected: member pairs asking the same item under independent uniform draws,
      (S² − Σ nᵢ²) / 2|D|, with each member's nᵢ capped at ``max_over_median`` times the
      median member's: two eval runners sweeping different MMLU subjects (thousands of
      items each, disjoint by design, not by a split) must not carry the statistic for a
      crowd of small users, while a ring's slices (1 to ~30 items) keep their sizes;
    - observed: Σ over items of C(number of members that asked it, 2);
    - split = (1 − observed / expected) × significance × the size factor of k.
      Significance: how far below chance the overlap falls, in Poisson standard
      deviations ((expected − observed) / √expected): 0 up to ``min_sigma``, 1 from
      ``full_sigma`` (a class of seven sharing 21 items where 25 were expected is chance;
      44 accounts sharing none of 15 expected is not). The size factor of k is 0 for two
      members and 1 from twenty: an eval org parallelises a benchmark over two or three
      accounts; twenty accounts each taking a sliver is a ring.

    Columns ``dataset_expected_shared``, ``dataset_shared``, ``dataset_split_members`` and
    ``dataset_split`` (in [0, 1]) for the dataset with the strongest split (else the one
    most members asked). A benchmark re-run or users drawn to the popular items share more
    than chance (0). |D| is the known size, else the distinct items seen.

    ``dataset_overlap`` (in [0, 1]) is the opposite: the members re-asked the same items,
    (observed / expected − 1) capped at 1 (twice chance), times the same significance
    mapping above chance. Colleagues re-running a benchmark (an eval org) overlap; a
    distiller gains nothing from asking one item again from another account.
    """
    schema = {
        CLUSTER: pl.UInt32,
        "dataset_expected_shared": pl.Float64,
        "dataset_shared": pl.Float64,
        "dataset_split_members": pl.UInt32,
        "dataset_split": pl.Float64,
        "dataset_overlap": pl.Float64,
        "split_dataset": pl.Utf8,
    }
    hits = frame.select(SUBJECT, DATASET_NAME, DATASET_ITEM).filter(
        pl.col(DATASET_ITEM).is_not_null() & pl.col(DATASET_NAME).is_not_null()
    )
    if hits.height == 0 or membership.height == 0:
        return pl.DataFrame(schema=schema)
    known = pl.DataFrame(
        {DATASET_NAME: list((sizes or {}).keys()), "_size": list((sizes or {}).values())},
        schema={DATASET_NAME: pl.Utf8, "_size": pl.Int64},
    )
    size = (
        hits.group_by(DATASET_NAME)
        .agg(pl.col(DATASET_ITEM).n_unique().alias("_seen"))
        .join(known, on=DATASET_NAME, how="left")
        .select(DATASET_NAME, pl.max_horizontal("_seen", "_size").cast(pl.Float64).alias("_d"))
    )
    items = hits.select(SUBJECT, DATASET_NAME, DATASET_ITEM).unique().join(membership, on=SUBJECT)
    expected = (
        items.group_by(CLUSTER, DATASET_NAME, SUBJECT)
        .agg(pl.len().cast(pl.Float64).alias("_n"))
        .with_columns(
            pl.min_horizontal(
                "_n", max_over_median * pl.col("_n").median().over(CLUSTER, DATASET_NAME)
            )
        )
        .group_by(CLUSTER, DATASET_NAME)
        .agg(
            pl.len().cast(pl.UInt32).alias("_k"),
            pl.col("_n").sum().alias("_s"),
            (pl.col("_n") ** 2).sum().alias("_s2"),
        )
        .join(size, on=DATASET_NAME)
        .with_columns(((pl.col("_s") ** 2 - pl.col("_s2")) / (2.0 * pl.col("_d"))).alias("_e"))
    )
    observed = (
        items.group_by(CLUSTER, DATASET_NAME, DATASET_ITEM)
        .agg(pl.len().cast(pl.Float64).alias("_c"))
        .group_by(CLUSTER, DATASET_NAME)
        .agg((pl.col("_c") * (pl.col("_c") - 1.0) / 2.0).sum().alias("_o"))
    )
    many = ((pl.col("_k").cast(pl.Float64) / 2.0).log() / math.log(10.0)).clip(0.0, 1.0)
    return (
        expected.join(observed, on=[CLUSTER, DATASET_NAME])
        .with_columns(
            (
                (1.0 - pl.col("_o") / pl.col("_e").clip(lower_bound=1e-12)).clip(0.0, 1.0)
                * (
                    (
                        (pl.col("_e") - pl.col("_o")) / pl.col("_e").clip(lower_bound=1e-12).sqrt()
                        - min_sigma
                    )
                    / (full_sigma - min_sigma)
                ).clip(0.0, 1.0)
                * many
            ).alias("_split"),
            (
                (pl.col("_o") / pl.col("_e").clip(lower_bound=1e-12) - 1.0).clip(0.0, 1.0)
                * (
                    (
                        (pl.col("_o") - pl.col("_e")) / pl.col("_e").clip(lower_bound=1e-12).sqrt()
                        - min_sigma
                    )
                    / (full_sigma - min_sigma)
                ).clip(0.0, 1.0)
            ).alias("_overlap"),
        )
        .sort([CLUSTER, "_split", "_k", DATASET_NAME], descending=[False, True, True, False])
        .group_by(CLUSTER, maintain_order=True)
        .first()
        .select(
            CLUSTER,
            pl.col("_e").alias("dataset_expected_shared"),
            pl.col("_o").alias("dataset_shared"),
            pl.col("_k").alias("dataset_split_members"),
            pl.col("_split").round(12).alias("dataset_split"),
            pl.col("_overlap").round(12).alias("dataset_overlap"),
            pl.col(DATASET_NAME).alias("split_dataset"),
        )
        .sort(CLUSTER)
        .cast(pl.Schema(schema))
    )


def extend_split_clusters(
    frame: pl.DataFrame,
    weights: pl.DataFrame,
    membership: pl.DataFrame,
    sizes: Mapping[str, int] | None = None,
    *,
    resolution: float = 0.05,
    min_split: float = 0.5,
    min_tie: float = 0.5,
) -> pl.DataFrame:
    """Membership with the loose slices of split-benchmark rings added to their cluster.

    CPM admits a subject to a cluster when its ties to the members exceed ``resolution``
    per member. A ring's account that shares the proxy /24s of only a third of the ring
    falls short and is left alone, or in a cluster of three. Where a cluster split a
    dataset (``dataset_split`` >= ``min_split``), a subject outside it joins when its ties
    to the members reach ``min_tie`` of what CPM asks, are stronger than its ties to its
    own cluster, and it asked items of the split dataset, none of them items the cluster
    asked (a slice of its own). Researchers asking the same benchmark from a campus share
    no proxies with the ring, and its /24 neighbours that never asked the benchmark do not
    join either.
    """
    if membership.height == 0 or weights.height == 0:
        return membership
    split = dataset_split(frame, membership, sizes).filter(pl.col("dataset_split") >= min_split)
    if split.height == 0:
        return membership
    sizes_ = membership.group_by(CLUSTER).agg(pl.len().alias("_size"))
    both = pl.concat(
        [
            weights.select(pl.col("src").alias(SUBJECT), pl.col("dst").alias("_other"), "weight"),
            weights.select(pl.col("dst").alias(SUBJECT), pl.col("src").alias("_other"), "weight"),
        ]
    ).join(membership.rename({SUBJECT: "_other"}), on="_other")
    ties = both.group_by(SUBJECT, CLUSTER).agg(pl.col("weight").sum().alias("_tie"))
    own = ties.join(membership, on=[SUBJECT, CLUSTER]).select(SUBJECT, pl.col("_tie").alias("_own"))
    hits = (
        frame.select(SUBJECT, DATASET_NAME, DATASET_ITEM)
        .filter(pl.col(DATASET_ITEM).is_not_null())
        .unique()
    )
    taken = hits.join(membership, on=SUBJECT).select(CLUSTER, DATASET_NAME, DATASET_ITEM).unique()
    split_items = split.select(CLUSTER, pl.col("split_dataset").alias(DATASET_NAME))
    candidate_items = hits.join(split_items, on=DATASET_NAME)
    overlap = (
        candidate_items.join(
            taken.with_columns(pl.lit(True).alias("_shared")),
            on=[CLUSTER, DATASET_NAME, DATASET_ITEM],
            how="left",
        )
        .group_by(SUBJECT, CLUSTER)
        .agg(pl.len().alias("_items"), pl.col("_shared").fill_null(False).sum().alias("_dup"))
    )
    joins = (
        ties.join(split.select(CLUSTER), on=CLUSTER)
        .join(sizes_, on=CLUSTER)
        .join(overlap, on=[SUBJECT, CLUSTER])
        .join(membership.rename({CLUSTER: "_current"}), on=SUBJECT, how="left")
        .join(own, on=SUBJECT, how="left")
        .filter(
            (pl.col("_current").is_null() | (pl.col("_current") != pl.col(CLUSTER)))
            & (pl.col("_tie") >= min_tie * resolution * pl.col("_size"))
            & (pl.col("_tie") > pl.col("_own").fill_null(0.0))
            & (pl.col("_dup") == 0)
        )
        .sort([SUBJECT, "_tie", CLUSTER], descending=[False, True, False])
        .group_by(SUBJECT, maintain_order=True)
        .first()
        .select(SUBJECT, pl.col(CLUSTER).alias("_joined"))
    )
    if joins.height == 0:
        return membership
    return (
        pl.concat(
            [membership, joins.select(SUBJECT, pl.lit(None, dtype=pl.UInt32).alias(CLUSTER))],
            how="vertical_relaxed",
        )
        .unique(SUBJECT, keep="first", maintain_order=True)
        .join(joins, on=SUBJECT, how="left")
        .select(SUBJECT, pl.coalesce("_joined", CLUSTER).alias(CLUSTER))
        # A cluster its members left may be down to one: no cluster.
        .filter(pl.len().over(CLUSTER) >= 2)
        .sort(SUBJECT)
        .cast(membership.schema)
    )


def dataset_participation(frame: pl.DataFrame, membership: pl.DataFrame) -> pl.DataFrame:
    """Per member: ``dataset_participation`` in [0, 1], how fully it takes a dataset slice.

    The member's distinct dataset items over a quarter of its cluster's mean member's
    (capped at 1): in a ring that splits a benchmark every account takes its slice,
    however loosely its infrastructure ties it to the rest (see ``dataset_split``).
    """
    schema = {SUBJECT: pl.UInt32, "dataset_participation": pl.Float64}
    if membership.height == 0:
        return pl.DataFrame(schema=schema)
    items = (
        frame.select(SUBJECT, DATASET_NAME, DATASET_ITEM)
        .filter(pl.col(DATASET_ITEM).is_not_null() & pl.col(DATASET_NAME).is_not_null())
        .group_by(SUBJECT)
        .agg(pl.struct(DATASET_NAME, DATASET_ITEM).n_unique().cast(pl.Float64).alias("_n"))
    )
    return (
        membership.join(items, on=SUBJECT, how="left")
        .with_columns(pl.col("_n").fill_null(0.0))
        .with_columns(
            (pl.col("_n") / (0.25 * pl.col("_n").mean().over(CLUSTER)).clip(lower_bound=1e-12))
            .clip(0.0, 1.0)
            .alias("dataset_participation")
        )
        .select(SUBJECT, "dataset_participation")
        .sort(SUBJECT)
        .cast(pl.Schema(schema))
    )
