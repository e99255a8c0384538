"""Leiden (CPM) clusters over the subject graph, and cluster-level features.

CPM, not modularity: modularity's resolution limit merges small rings into
their neighbours on large graphs (Fortunato & Barthélemy, PNAS 2007), while CPM
keeps any group whose internal weight density exceeds the resolution, whatever
the size of the rest of the graph (Traag et al., Sci. Rep. 2019).

Cluster feature columns (one row per cluster of two or more subjects):
``cluster``, ``size``, ``events``, ``density.<kind>`` (strength-weighted
share of member pairs linked by that edge kind), ``template_concentration`` (share of the cluster's
requests in its 3 most used templates), ``top_template``, ``top_dataset``,
``succession_share`` (members on a ban-and-replace chain),
``dataset_items`` (distinct items of it, all members together),
``dataset_redundancy`` (1 - union / sum of per-member items: 0 = disjoint
slices), ``dataset_coverage`` (union / dataset size, null if unknown),
``<signal>_share`` and ``harvest_share`` (share of the cluster's requests),
``member_harvest_share`` (the median member's own harvest share), ``elicitation_share`` and
``member_elicitation_share`` (the same for content signals alone, dataset items left out),
``harvesting_members``
(members with at least ``HARVESTER_SHARE`` of their own requests harvesting),
``new_account_share``, ``throwaway_share`` / ``throwaway_members`` (new accounts at full
throughput: the members' mean ``new_full``, and how many ran at full rate from their first
hours with at least ``THROWAWAY_EVENTS`` requests),
``rotation_share`` (the members' mean proxy rotation, ``accounts.rotation_expr``),
``creation_burst`` (largest share of members created in one hour, new or old accounts: bought
aged accounts were bulk-created too; 0 unless ``BURST_MEMBERS`` share that hour),
``pivot_share``, ``top_payment``/``top_payment_members``, and the split-benchmark
columns ``dataset_expected_shared``, ``dataset_shared``, ``dataset_split_members``,
``dataset_split``, ``dataset_overlap``, ``split_dataset`` (``networks.split``), and
``load_dispersion``, ``progress_dispersion``, ``load_evenness`` (members' request counts, in
total and at the cluster's median moment, more even than independent senders give;
``networks.load``).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping

import numpy as np
import polars as pl

from distillguard import schema as S
from distillguard.accounts.base import (
    DATASET_ITEM,
    DATASET_NAME,
    SUBJECT,
    TEMPLATE_CLUSTER,
    by_subject_index,
)
from distillguard.accounts.profile import (
    SIGNAL_THRESHOLD,
    elicitation_expr,
    full_rate_expr,
    harvest_expr,
    new_full_expr,
    rotation_expr,
)
from distillguard.networks.base import CLUSTER, EDGE_KINDS, PAIR, pair_ends, pair_key
from distillguard.networks.edges import BASE_WEIGHTS
from distillguard.networks.load import load_evenness
from distillguard.networks.split import dataset_split

HARVESTER_SHARE = 0.5  # of a member's own requests
# A throwaway member: a new account whose first hours ran at half its overall rate or more
# (accounts.full_rate_expr), with at least this many requests.
THROWAWAY = 0.5
THROWAWAY_EVENTS = 5

__all__ = [
    "CLUSTER",
    "cluster_features",
    "leiden_clusters",
    "member_attachment",
    "pair_weights",
]

log = logging.getLogger(__name__)


def pair_weights(edges: pl.DataFrame) -> pl.DataFrame:
    """Total weight per subject pair over every edge kind (circulant edges count their pairs).

    Within one kind a pair keeps its strongest edge: two accounts sharing five
    proxy IPs are not five times as linked as two sharing one. One kind at a time, each
    pair as one 64-bit key, and the kinds' weights summed in kind order over runs of equal
    keys after one stable sort: at 10M events, grouping all 21.7M edges by (src, dst, kind)
    at once peaked at +3.6 GiB, a hash group-by of the per-kind weights at +1.1 GiB.
    """
    strongest = [
        edges.lazy()
        .filter(pl.col("kind") == kind)
        .group_by(pair_key())
        .agg((pl.col("weight") * pl.col("pairs")).max().alias("w"))
        .collect()
        for kind in sorted(edges.get_column("kind").unique().to_list())
    ]
    schema = pl.Schema({"src": pl.UInt32, "dst": pl.UInt32, "weight": pl.Float64})
    if not strongest:
        return pl.DataFrame(schema=schema)
    merged = pl.concat(strongest).sort(PAIR, maintain_order=True)
    del strongest
    return (
        _sum_runs(merged, [PAIR], "w")
        .rename({"w": "weight"})
        .filter(pl.col("weight") > 0)
        .select(*pair_ends(), "weight")
        .cast(schema)
    )


def _sum_runs(frame: pl.DataFrame, keys: list[str], value: str) -> pl.DataFrame:
    """``keys`` and ``value`` summed over each run of equal ``keys`` (``frame`` is sorted by
    them), added in row order: a hash group-by's float sums varied in the last bits from run
    to run."""
    if frame.height == 0:
        return frame.select(*keys, value)
    change = pl.any_horizontal(pl.col(k) != pl.col(k).shift(1) for k in keys).fill_null(True)
    starts = np.flatnonzero(frame.select(change).to_series().to_numpy())
    total = np.add.reduceat(frame.get_column(value).to_numpy(), starts)
    return frame.select(keys)[starts].with_columns(pl.Series(value, total))


def leiden_clusters(
    weights: pl.DataFrame, *, resolution: float = 0.05, seed: int = 0, iterations: int = -1
) -> pl.DataFrame:
    """``subject.idx`` -> ``cluster`` (UInt32, 0 = largest) for clusters of two or more.

    Deterministic: nodes and edges are sorted and igraph draws from a seeded
    generator, restored afterwards.
    """
    import igraph as ig

    schema = {SUBJECT: pl.UInt32, CLUSTER: pl.UInt32}
    if weights.height == 0:
        return pl.DataFrame(schema=schema)
    nodes = pl.concat([weights["src"], weights["dst"]]).unique().sort()
    node_array = nodes.to_numpy()
    # NumPy arrays, not lists: a list of 10M edge pairs was ~1.4 GB of Python objects. Built
    # in the call, so they are freed before Leiden runs.
    graph = ig.Graph(
        n=len(node_array),
        edges=np.column_stack(
            [np.searchsorted(node_array, weights[end].to_numpy()) for end in ("src", "dst")]
        ),
    )
    ig.set_random_number_generator(random.Random(seed))
    try:
        parts = graph.community_leiden(
            objective_function="CPM",
            weights=weights["weight"].to_numpy(),
            resolution=resolution,
            n_iterations=iterations,
        )
    finally:
        ig.set_random_number_generator(random)
    membership = pl.DataFrame(
        {SUBJECT: nodes, "_raw": parts.membership}, schema={SUBJECT: pl.UInt32, "_raw": pl.Int64}
    )
    sizes = (
        membership.group_by("_raw")
        .agg(pl.len().alias("n"), pl.col(SUBJECT).min().alias("first"))
        .filter(pl.col("n") >= 2)
        .sort(["n", "first"], descending=[True, False])
        .with_row_index(CLUSTER)
    )
    log.debug("leiden: %d nodes, %d clusters of 2+", len(node_array), sizes.height)
    return (
        membership.join(sizes.select("_raw", CLUSTER), on="_raw")
        .select(SUBJECT, CLUSTER)
        .sort(SUBJECT)
        .cast(pl.Schema(schema))
    )


def member_attachment(
    weights: pl.DataFrame, membership: pl.DataFrame, edges: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Per member: ``attachment`` in [0, 1], how tightly it is tied into its cluster.

    A member's tie strength is the total weight of its links to other members; the
    attachment is that strength over a quarter of the cluster's median member's,
    capped at 1: ordinary members are fully attached, while a benign account that
    Leiden pulled in through one weak link (a researcher asking the same benchmark
    as a ring) inherits little of the ring's score.

    With ``edges`` (typed), the tie is measured kind by kind: for every edge kind,
    the member's strength over a quarter of the cluster's mean member strength in
    that kind (capped at 1), weighted by the kind's share of the cluster's ties. A
    member must share what holds the cluster together: a researcher tied to a
    card-sharing, lockstep ring only through the benchmark it also asks
    (coverage) is attached by coverage's share of the ring's ties, not fully.
    """
    schema = {SUBJECT: pl.UInt32, "attachment": pl.Float64}
    if membership.height == 0:
        return pl.DataFrame(schema=schema)
    if edges is not None:
        return _typed_attachment(edges, membership).cast(pl.Schema(schema))
    inside = (
        weights.join(membership.rename({SUBJECT: "src", CLUSTER: "c_src"}), on="src")
        .join(membership.rename({SUBJECT: "dst", CLUSTER: "c_dst"}), on="dst")
        .filter(pl.col("c_src") == pl.col("c_dst"))
    )
    strength = (
        pl.concat(
            [
                inside.select(pl.col("src").alias(SUBJECT), "weight"),
                inside.select(pl.col("dst").alias(SUBJECT), "weight"),
            ]
        )
        .group_by(SUBJECT)
        .agg(pl.col("weight").sum().alias("_s"))
    )
    return (
        membership.join(strength, on=SUBJECT, how="left")
        .with_columns(pl.col("_s").fill_null(0.0))
        .with_columns(
            (pl.col("_s") / (0.25 * pl.col("_s").median().over(CLUSTER)).clip(lower_bound=1e-12))
            .clip(0.0, 1.0)
            .alias("attachment")
        )
        .select(SUBJECT, "attachment")
        .sort(SUBJECT)
        .cast(pl.Schema(schema))
    )


def _typed_attachment(edges: pl.DataFrame, membership: pl.DataFrame) -> pl.DataFrame:
    typed = (
        _intra_cluster(edges, membership)
        .group_by("src", "dst", "kind")
        .agg((pl.col("weight") * pl.col("pairs")).max().alias("w"), pl.col("c_src").first())
        .filter(pl.col("w") > 0)
        # Canonical order, so float sums do not depend on the input's row order.
        .sort("src", "dst", "kind")
        .collect()
    )
    per_member = (
        pl.concat(
            [
                typed.select(
                    pl.col("src").alias(SUBJECT), pl.col("c_src").alias(CLUSTER), "kind", "w"
                ),
                typed.select(
                    pl.col("dst").alias(SUBJECT), pl.col("c_src").alias(CLUSTER), "kind", "w"
                ),
            ]
        )
        .sort(SUBJECT, "kind", "w")
        .group_by(SUBJECT, CLUSTER, "kind", maintain_order=True)
        .agg(pl.col("w").sum().alias("_s"))
    )
    sizes = membership.group_by(CLUSTER).agg(pl.len().alias("_n"))
    kinds = (
        per_member.sort(CLUSTER, "kind", SUBJECT)
        .group_by(CLUSTER, "kind", maintain_order=True)
        .agg(pl.col("_s").sum().alias("_k"))
        .join(sizes, on=CLUSTER)
        .with_columns(
            (pl.col("_k") / pl.col("_k").sum().over(CLUSTER)).alias("_share"),
            (pl.col("_k") / pl.col("_n")).alias("_mean"),
        )
    )
    score = (
        per_member.join(kinds, on=[CLUSTER, "kind"])
        .sort(SUBJECT, "kind")
        .group_by(SUBJECT, maintain_order=True)
        .agg(
            (
                pl.col("_share")
                * (pl.col("_s") / (0.25 * pl.col("_mean")).clip(lower_bound=1e-12)).clip(0.0, 1.0)
            )
            .sum()
            .alias("attachment")
        )
    )
    return (
        membership.join(score, on=SUBJECT, how="left")
        .with_columns(pl.col("attachment").fill_null(0.0).clip(0.0, 1.0))
        .select(SUBJECT, "attachment")
        .sort(SUBJECT)
    )


def _kind_enum(edges: pl.DataFrame) -> pl.Enum:
    """Edge kinds as an Enum in name order (it sorts as the names do): grouping and sorting
    ~15M intra-cluster edges on a text kind held 16 bytes a row more."""
    return pl.Enum(sorted(set(EDGE_KINDS) | set(edges.get_column("kind").unique().to_list())))


def _cluster_lookup(membership: pl.DataFrame, frame: pl.DataFrame) -> pl.Expr:
    """Each event's cluster (null outside any), gathered by its dense subject index."""
    table = by_subject_index(membership, frame.get_column(SUBJECT)).get_column(CLUSTER)
    return pl.lit(table).gather(pl.col(SUBJECT)).alias(CLUSTER)


def _intra_cluster(edges: pl.DataFrame, membership: pl.DataFrame) -> pl.LazyFrame:
    """``src``, ``dst``, ``c_src`` (their cluster), ``kind``, ``weight``, ``pairs`` of the
    edges whose two ends are members of one cluster; ``kind`` is a :func:`_kind_enum`.

    Clusters are gathered by subject index: joining every edge with the membership twice
    copied the edge frame twice (+3.6 GiB on the 10M-event scan's 21.7M edges)."""
    clusters = by_subject_index(membership, edges.get_column("src"), edges.get_column("dst"))
    table = pl.lit(clusters.get_column(CLUSTER))
    return (
        edges.lazy()
        .select(
            "src",
            "dst",
            table.gather(pl.col("src")).alias("c_src"),
            table.gather(pl.col("dst")).alias("_c_dst"),
            pl.col("kind").cast(_kind_enum(edges)),
            "weight",
            "pairs",
        )
        .filter(pl.col("c_src") == pl.col("_c_dst"))
        .drop("_c_dst")
    )


def cluster_features(
    frame: pl.DataFrame,
    profiles: pl.DataFrame,
    edges: pl.DataFrame,
    membership: pl.DataFrame,
    *,
    dataset_sizes: Mapping[str, int] | None = None,
) -> pl.DataFrame:
    """Cluster-level features (module docstring) from events, profiles, edges and membership."""
    if membership.height == 0:
        return pl.DataFrame(schema={CLUSTER: pl.UInt32, "size": pl.UInt32})
    sizes = membership.group_by(CLUSTER).agg(pl.len().cast(pl.UInt32).alias("size"))
    # Members' events only, their cluster looked up by subject index (a join would hash and
    # copy every column of ~all events: ~4 GB at 10M events). Lazy: each aggregate below
    # reads its own columns, where one eager copy of them all held ~0.5 GB at 10M events.
    cluster_of = _cluster_lookup(membership, frame)
    events = (
        frame.lazy()
        .select(
            SUBJECT,
            TEMPLATE_CLUSTER,
            DATASET_NAME,
            DATASET_ITEM,
            S.PAYMENT,
            pl.col(S.ENDUSER).is_null().alias("_direct"),
            *(f"signal.{s}" for s in ("reasoning", "jailbreak", "synthetic", "grader", "rewrite")),
            harvest_expr().alias("_harvest"),
            elicitation_expr().alias("_elicit"),
            cluster_of,
        )
        .filter(pl.col(CLUSTER).is_not_null())
    )
    out = sizes.join(_densities(edges, membership, sizes), on=CLUSTER, how="left")
    # What the typical member does, not what the heaviest two do: two busy eval runners
    # and three quiet new accounts on one campus /24 are no harvesting group.
    members_harvest = (
        events.group_by(CLUSTER, SUBJECT)
        .agg(pl.col("_harvest").mean().alias("_h"), pl.col("_elicit").mean().alias("_e"))
        .group_by(CLUSTER)
        .agg(
            pl.col("_h").median().alias("member_harvest_share"),
            pl.col("_e").median().alias("member_elicitation_share"),
            # How many members do the harvesting (most of their own requests; cover traffic
            # of 30%, as in DistillBench's low-and-slow ring, leaves 70%): the size of the
            # group that has a purpose, which the cluster score's size factor counts. Quiet
            # new accounts on a campus /24 next to two eval runners do not count.
            (pl.col("_h") >= HARVESTER_SHARE).sum().cast(pl.Float64).alias("harvesting_members"),
        )
        .collect()
    )
    out = out.join(members_harvest, on=CLUSTER, how="left")
    content = (
        events.group_by(CLUSTER)
        .agg(
            pl.len().alias("events"),
            pl.col(DATASET_ITEM).is_not_null().mean().alias("dataset_share"),
            pl.col("_harvest").mean().alias("harvest_share"),
            pl.col("_elicit").mean().alias("elicitation_share"),
            *(
                (pl.col(f"signal.{s}").fill_null(0.0) >= SIGNAL_THRESHOLD)
                .mean()
                .alias(f"{s}_share")
                for s in ("reasoning", "jailbreak", "synthetic", "grader", "rewrite")
            ),
        )
        .collect()
    )
    templates = (
        events.filter(pl.col(TEMPLATE_CLUSTER).is_not_null())
        .group_by(CLUSTER, TEMPLATE_CLUSTER)
        .agg(pl.len().alias("n"))
        .sort([CLUSTER, "n", TEMPLATE_CLUSTER], descending=[False, True, False])
        .group_by(CLUSTER, maintain_order=True)
        .agg(
            pl.col("n").head(3).sum().alias("top3"),
            pl.col(TEMPLATE_CLUSTER).first().alias("top_template"),
        )
        .collect()
    )
    out = (
        out.join(content, on=CLUSTER, how="left")
        .join(templates, on=CLUSTER, how="left")
        .with_columns(
            (pl.col("top3").fill_null(0) / pl.col("events")).alias("template_concentration")
        )
        .drop("top3")
    )
    out = out.join(_coverage(events, dataset_sizes), on=CLUSTER, how="left")
    out = out.join(dataset_split(frame, membership, dataset_sizes), on=CLUSTER, how="left")
    out = out.join(load_evenness(frame, membership), on=CLUSTER, how="left")
    out = out.join(_member_features(profiles, membership), on=CLUSTER, how="left")
    payment = (
        events.filter(pl.col(S.PAYMENT).is_not_null() & pl.col("_direct"))
        .group_by(CLUSTER, S.PAYMENT)
        .agg(pl.col(SUBJECT).n_unique().alias("top_payment_members"))
        .sort([CLUSTER, "top_payment_members", S.PAYMENT], descending=[False, True, False])
        .group_by(CLUSTER, maintain_order=True)
        .first()
        .select(
            CLUSTER, pl.col(S.PAYMENT).cast(pl.Utf8).alias("top_payment"), "top_payment_members"
        )
        .collect()
    )
    out = out.join(payment, on=CLUSTER, how="left")
    density_cols = [f"density.{k}" for k in EDGE_KINDS]
    return out.with_columns(
        pl.col(density_cols).fill_null(0.0), pl.col("succession_share").fill_null(0.0)
    ).sort(CLUSTER)


def _densities(edges: pl.DataFrame, membership: pl.DataFrame, sizes: pl.DataFrame) -> pl.DataFrame:
    """Strength-weighted density per kind: sum of (weight / base weight) over linked member
    pairs, divided by all member pairs. A clique over rare shared values scores 1; links
    through values that thousands share score near 0, however many there are."""
    intra = _intra_cluster(edges, membership)
    base = pl.LazyFrame(
        {"kind": list(BASE_WEIGHTS), "_base": list(BASE_WEIGHTS.values())},
        schema={"kind": intra.collect_schema()["kind"], "_base": pl.Float64},
    )
    linked = (
        intra.join(base, on="kind")
        .with_columns((pl.col("weight") / pl.col("_base")).clip(0.0, 1.0).alias("_strength"))
        .group_by("c_src", "src", "dst", "kind")
        .agg((pl.col("pairs") * pl.col("_strength")).max().alias("pairs"))
        .sort("c_src", "kind", "src", "dst")
        .collect()
    )
    # Succession links a chain (each replacement to its predecessor), not a clique: count
    # the share of members on such a chain instead.
    chain = (
        linked.filter(pl.col("kind") == "succession")
        .select("c_src", pl.concat_list("src", "dst").alias("m"))
        .explode("m")
        .unique()
        .group_by("c_src")
        .agg(pl.len().alias("_chain"))
        .rename({"c_src": CLUSTER})
    )
    inside = (
        _sum_runs(linked, ["c_src", "kind"], "pairs")
        .rename({"c_src": CLUSTER})
        .join(sizes, on=CLUSTER)
        .with_columns(
            (pl.col("pairs") / (pl.col("size").cast(pl.Float64) * (pl.col("size") - 1) / 2.0))
            .clip(0.0, 1.0)
            .alias("density")
        )
    )
    wide = inside.pivot(on="kind", index=CLUSTER, values="density")
    for kind in EDGE_KINDS:
        if kind not in wide.columns:
            wide = wide.with_columns(pl.lit(0.0).alias(kind))
    wide = wide.join(chain, on=CLUSTER, how="left").join(sizes, on=CLUSTER)
    return wide.select(
        CLUSTER,
        *(pl.col(k).alias(f"density.{k}") for k in EDGE_KINDS),
        (pl.col("_chain").fill_null(0) / pl.col("size")).alias("succession_share"),
    )


def _coverage(events: pl.LazyFrame, sizes: Mapping[str, int] | None) -> pl.DataFrame:
    items = events.filter(pl.col(DATASET_ITEM).is_not_null() & pl.col(DATASET_NAME).is_not_null())
    per_member = (
        items.group_by(CLUSTER, DATASET_NAME, SUBJECT)
        .agg(pl.col(DATASET_ITEM).n_unique().alias("n"))
        .group_by(CLUSTER, DATASET_NAME)
        .agg(pl.col("n").sum().alias("member_items"))
    )
    union = items.group_by(CLUSTER, DATASET_NAME).agg(
        pl.col(DATASET_ITEM).n_unique().alias("dataset_items")
    )
    size_frame = pl.LazyFrame(
        {DATASET_NAME: list((sizes or {}).keys()), "_size": list((sizes or {}).values())},
        schema={DATASET_NAME: pl.Utf8, "_size": pl.Int64},
    )
    return (
        union.join(per_member, on=[CLUSTER, DATASET_NAME])
        .join(size_frame, on=DATASET_NAME, how="left")
        .sort([CLUSTER, "dataset_items", DATASET_NAME], descending=[False, True, False])
        .group_by(CLUSTER, maintain_order=True)
        .first()
        .select(
            CLUSTER,
            pl.col(DATASET_NAME).alias("top_dataset"),
            "dataset_items",
            (1.0 - pl.col("dataset_items") / pl.col("member_items")).alias("dataset_redundancy"),
            (pl.col("dataset_items") / pl.col("_size"))
            .clip(upper_bound=1.0)
            .alias("dataset_coverage"),
        )
        .collect()
    )


# Members created in one hour that make a burst: two or three accounts of a large customer
# base often share an hour by chance (DistillBench: ~1 benign sign-up an hour over years).
BURST_MEMBERS = 4


def _member_features(profiles: pl.DataFrame, membership: pl.DataFrame) -> pl.DataFrame:
    cols = [SUBJECT, "new_account", "created_at"]
    if "pivoted" in profiles.columns:
        cols.append("pivoted")
    members = profiles.select(
        *cols,
        new_full_expr().alias("_new_full"),
        # Counted while the ring is young too: a new account at full rate from its first
        # request, with a few requests behind it, whatever its volume so far.
        ((full_rate_expr() >= THROWAWAY) & (pl.col("events") >= THROWAWAY_EVENTS)).alias(
            "_throwaway"
        ),
        rotation_expr().alias("_rotation"),
    ).join(membership, on=SUBJECT)
    if "pivoted" not in members.columns:
        members = members.with_columns(pl.lit(False).alias("pivoted"))
    burst = (
        members.filter(pl.col("created_at").is_not_null())
        .with_columns(pl.col("created_at").dt.truncate("1h").alias("_hour"))
        .group_by(CLUSTER, "_hour")
        .agg(pl.len().alias("n"))
        .group_by(CLUSTER)
        .agg(pl.col("n").max().alias("_burst"))
    )
    return (
        members.group_by(CLUSTER)
        .agg(
            pl.len().alias("_n"),
            pl.col("new_account").cast(pl.Float64).mean().alias("new_account_share"),
            pl.col("pivoted").fill_null(False).cast(pl.Float64).mean().alias("pivot_share"),
            pl.col("_new_full").mean().alias("throwaway_share"),
            pl.col("_throwaway").sum().cast(pl.Float64).alias("throwaway_members"),
            pl.col("_rotation").mean().alias("rotation_share"),
        )
        .join(burst, on=CLUSTER, how="left")
        .select(
            CLUSTER,
            "new_account_share",
            "pivot_share",
            "throwaway_share",
            "throwaway_members",
            "rotation_share",
            pl.when(pl.col("_burst") >= BURST_MEMBERS)
            .then(pl.col("_burst") / pl.col("_n"))
            .otherwise(0.0)
            .alias("creation_burst"),
        )
    )
