"""Typed, rarity-weighted edges between subjects that share infrastructure or content.

Edges are built by grouping on a shared value, never by comparing all pairs:
the cost is bounded by ``clique_cap`` pairs per member, and a value shared by
more than ``max_group`` subjects is skipped (and reported), in the spirit of
EvilCohort (accounts sharing an IP pool) with IDF-style rarity weights: an IP
behind a university NAT or a cloud egress shared by thousands says little, a
payment fingerprint shared by 30 accounts says a lot.

Infrastructure edges are built only for direct subjects: behind a router every
end user shares the platform's IPs, TLS stack and payment method.
"""

from __future__ import annotations

import math

import polars as pl

from distillguard import schema as S
from distillguard.accounts.base import SUBJECT, SYSTEM_ID, TEMPLATE_CLUSTER, categorical_as_text
from distillguard.networks.base import EDGE_SCHEMA, SKIPPED_SCHEMA

__all__ = [
    "BASE_WEIGHTS",
    "group_pairs",
    "idf",
    "infrastructure_edges",
    "shared_key_edges",
    "template_edges",
]

# How much sharing one value of each kind says, before rarity. Payment instruments are
# normally one per customer (advisory: "accounts with similar registration and payment
# details"); IPs are shared by NATs and VPNs. TLS fingerprints mostly name a client library
# and hosting ASNs a cloud, so their weights sit below the clustering resolution: they
# reinforce other links but never form a cluster on their own (like a user agent, which
# never links at all).
BASE_WEIGHTS: dict[str, float] = {
    "payment": 1.0,
    "ip": 0.6,
    "ip24": 0.15,
    "asn": 0.03,
    "tls": 0.04,
    "creation": 0.4,
    "system": 0.5,
    "template": 0.5,
    "synchrony": 0.8,
    "coverage": 0.6,
    "succession": 0.5,
}


def idf(group_size: pl.Expr, population: int, max_group: int) -> pl.Expr:
    """Rarity weight in [0, 1]: 1 for a value two subjects share, 0 for one shared by all.

    IDF-style, log(N / n) / log(N / 2), with N the number of subjects seen but at most
    ``max_group``: a value held by ``max_group`` subjects weighs nothing however large
    the population, and a TLS fingerprint held by most subjects of a small log (the
    common client library) weighs almost nothing either.
    """
    ref = float(min(max(population, 3), max(max_group, 3)))
    return ((ref / group_size.cast(pl.Float64)).log() / math.log(ref / 2.0)).clip(0.0, 1.0)


def group_pairs(
    members: pl.DataFrame, *, max_group: int, clique_cap: int = 64, neighbours: int = 16
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Subject pairs sharing a ``key`` (any dtype): (pairs, oversized groups).

    Pairs have ``src`` < ``dst``, ``key``, ``group_size`` and ``pairs`` (see
    ``networks.base``); groups above ``max_group`` come back apart, with their size.
    """
    if neighbours * 2 + 1 > clique_cap:
        raise ValueError("clique_cap must exceed 2 * neighbours")
    groups = (
        members.select(pl.col(SUBJECT).cast(pl.UInt32), "key")
        .drop_nulls()
        .unique()
        .with_columns(pl.len().over("key").cast(pl.UInt32).alias("group_size"))
        .filter(pl.col("group_size") >= 2)
    )
    oversized = groups.filter(pl.col("group_size") > max_group).select("key", "group_size").unique()
    groups = groups.filter(pl.col("group_size") <= max_group)
    small = groups.filter(pl.col("group_size") <= clique_cap)
    pairs_small = (
        small.join(small.select("key", pl.col(SUBJECT).alias("dst")), on="key")
        .filter(pl.col(SUBJECT) < pl.col("dst"))
        .select(
            pl.col(SUBJECT).alias("src"), "dst", "key", "group_size", pl.lit(1.0).alias("pairs")
        )
    )
    big = groups.filter(pl.col("group_size") > clique_cap).with_columns(
        (pl.col(SUBJECT).rank("ordinal").over("key") - 1).cast(pl.Int64).alias("pos")
    )
    ring = (
        big.with_columns(pl.int_ranges(1, neighbours + 1).alias("step"))
        .explode("step")
        .with_columns(((pl.col("pos") + pl.col("step")) % pl.col("group_size")).alias("pos"))
        .join(big.select("key", "pos", pl.col(SUBJECT).alias("other")), on=["key", "pos"])
        .select(
            pl.min_horizontal(SUBJECT, "other").alias("src"),
            pl.max_horizontal(SUBJECT, "other").alias("dst"),
            "key",
            "group_size",
            pl.lit(1.0).alias("pairs"),
        )
    )
    return pl.concat([pairs_small, ring]), oversized


def shared_key_edges(
    members: pl.DataFrame,
    *,
    kind: str,
    population: int,
    max_group: int = 5000,
    clique_cap: int = 64,
    neighbours: int = 16,
    base_weight: float | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Edges between subjects sharing a ``key``; returns (edges, skipped keys).

    ``members`` has columns ``subject.idx`` and ``key``, one row per (subject,
    value) the subject really used (callers filter incidental use).
    """
    weight = BASE_WEIGHTS[kind] if base_weight is None else base_weight
    pairs, oversized = group_pairs(
        members, max_group=max_group, clique_cap=clique_cap, neighbours=neighbours
    )
    skipped = (
        oversized.select(pl.lit(kind).alias("kind"), pl.col("key").cast(pl.Utf8), "group_size")
        .sort("key")
        .cast(SKIPPED_SCHEMA)
    )
    edges = pairs.with_columns(
        pl.lit(kind).alias("kind"),
        pl.col("key").cast(pl.Utf8),
        (weight * idf(pl.col("group_size"), population, max_group)).alias("weight"),
    )
    return edges.select(list(EDGE_SCHEMA)).cast(EDGE_SCHEMA), skipped


def _edges_by_kind(
    members: dict[str, pl.DataFrame],
    *,
    population: int,
    max_group: int,
    clique_cap: int,
    neighbours: int,
) -> tuple[list[pl.DataFrame], list[pl.DataFrame]]:
    """``shared_key_edges`` for each kind's (subject, key) members: (edges, skipped) lists."""
    edges: list[pl.DataFrame] = []
    skipped: list[pl.DataFrame] = []
    for kind, kind_members in members.items():
        e, s = shared_key_edges(
            kind_members,
            kind=kind,
            population=population,
            max_group=max_group,
            clique_cap=clique_cap,
            neighbours=neighbours,
        )
        edges.append(e)
        skipped.append(s)
    return edges, skipped


def _direct(frame: pl.DataFrame) -> pl.LazyFrame:
    """Rows of direct accounts, lazily: each edge kind then reads only its own columns."""
    return frame.lazy().filter(pl.col(S.ENDUSER).is_null() & pl.col(S.ROUTER).is_null())


def infrastructure_edges(
    frame: pl.DataFrame,
    *,
    population: int,
    max_group: int = 5000,
    clique_cap: int = 64,
    neighbours: int = 16,
    creation_minutes: float = 10.0,
) -> tuple[list[pl.DataFrame], list[pl.DataFrame]]:
    """Shared IP, /24, hosting/VPN ASN, TLS fingerprint, payment, creation-burst edges."""
    direct = _direct(frame)
    ip = pl.col(S.CLIENT_ADDRESS)
    is_v4 = ip.str.count_matches(r"\.") == 3
    hosting = pl.col(S.IP_TYPE).is_in(["datacenter", "vpn"])
    created_bucket = (pl.col(S.ACCOUNT_CREATED).dt.epoch("s") // int(creation_minutes * 60)).cast(
        pl.Utf8
    )
    # kind: (the columns it reads, its key from them)
    feeds = {
        "payment": ((S.PAYMENT,), pl.col(S.PAYMENT)),
        "ip": ((S.CLIENT_ADDRESS,), ip),
        "ip24": (
            (S.CLIENT_ADDRESS,),
            pl.when(is_v4).then(ip.str.replace(r"\.\d+$", ".0/24")).otherwise(None),
        ),
        "asn": ((S.IP_TYPE, S.ASN), pl.when(hosting).then(pl.col(S.ASN).cast(pl.Utf8))),
        "tls": ((S.TLS_FINGERPRINT,), pl.col(S.TLS_FINGERPRINT)),
        # Accounts created in the same few minutes (bulk registration, NSA/CISA/FBI advisory).
        "creation": ((S.ACCOUNT_CREATED,), created_bucket),
    }
    # Distinct (subject, value) pairs first, as text after: the scan's frame holds these
    # columns as Categorical, and text per event would cost GBs at 10M events.
    members = {
        kind: direct.select(SUBJECT, *columns)
        .unique()
        .with_columns(categorical_as_text())
        .select(SUBJECT, key.alias("key"))
        .drop_nulls()
        .unique()
        .collect()
        for kind, (columns, key) in feeds.items()
    }
    return _edges_by_kind(
        members,
        population=population,
        max_group=max_group,
        clique_cap=clique_cap,
        neighbours=neighbours,
    )


def template_edges(
    frame: pl.DataFrame,
    *,
    min_events: int = 3,
    min_share: float = 0.05,
    population: int,
    max_group: int = 5000,
    clique_cap: int = 64,
    neighbours: int = 16,
) -> tuple[list[pl.DataFrame], list[pl.DataFrame]]:
    """Shared rare templates and system prompts, counted only where a subject really uses them.

    A subject is a member of a template (or system prompt) when it sent at least
    ``min_events`` requests with it making up at least ``min_share`` of its traffic,
    so one casual "Hi" does not tie a user to a campaign's skeleton.
    """
    totals = frame.group_by(SUBJECT).agg(pl.len().alias("total"))
    members = {
        kind: (
            frame.lazy()
            .filter(pl.col(column).is_not_null())
            .group_by(SUBJECT, column)
            .agg(pl.len().alias("n"))
            .join(totals.lazy(), on=SUBJECT)
            .filter((pl.col("n") >= min_events) & (pl.col("n") >= min_share * pl.col("total")))
            .select(SUBJECT, pl.col(column).cast(pl.Utf8).alias("key"))
            .collect()
        )
        for kind, column in (("template", TEMPLATE_CLUSTER), ("system", SYSTEM_ID))
    }
    return _edges_by_kind(
        members,
        population=population,
        max_group=max_group,
        clique_cap=clique_cap,
        neighbours=neighbours,
    )
