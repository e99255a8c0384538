"""The edge frame and its kinds.

An edge links two subjects (``src`` < ``dst``, both ``subject.idx``) because
they share something. Columns of the edge frame:

- ``src``, ``dst`` (UInt32): the subjects.
- ``kind`` (Utf8): one of :data:`EDGE_KINDS`.
- ``key`` (Utf8): the shared value (an IP, a payment fingerprint, a template id...).
- ``group_size`` (UInt32): how many subjects share that value.
- ``weight`` (Float64): evidence strength of this one edge (rarity-weighted).
- ``pairs`` (Float64): how many member pairs this edge stands for (1 for every
  kind built here; kept so that sampled edge sources can say otherwise).

Groups larger than the clique cap are linked as a circulant graph (each member
to its next ``k`` neighbours in subject order), without the O(n²) clique. Its
edges keep their own weight, uncompensated: a sampled ring is locally denser than
globally, so compensating would let Leiden cut chunks out of a common TLS stack.
Uncompensated, a kind whose weight sits below the clustering resolution can never
form a cluster on its own, and a big group of a strong kind (a card shared by 300
accounts) is cut into chunks of about ``2k`` members that each carry its features.

Skipped keys (shared by more than ``max_group`` subjects) are reported in a frame
with ``kind``, ``key``, ``group_size``.
"""

from __future__ import annotations

import polars as pl

__all__ = [
    "CLUSTER",
    "EDGE_KINDS",
    "EDGE_SCHEMA",
    "INFRA_KINDS",
    "PAIR",
    "SKIPPED_SCHEMA",
    "empty_edges",
    "pair_ends",
    "pair_key",
]

# Never "user_agent": sharing a client library says nothing about who is behind it.
# Cluster id column of memberships and cluster features.
CLUSTER = "cluster"
INFRA_KINDS = ("payment", "ip", "ip24", "asn", "tls", "creation")
EDGE_KINDS = (*INFRA_KINDS, "system", "template", "synchrony", "coverage", "succession")

# A subject pair as one UInt64 (``src * 2**32 + dst``): grouping tens of millions of edges on
# one integer column holds far less than grouping on two (or on two and a kind).
PAIR = "_pair"
_HIGH = 1 << 32


def pair_key() -> pl.Expr:
    """``src`` and ``dst`` as one :data:`PAIR` column."""
    return (pl.col("src").cast(pl.UInt64) * _HIGH + pl.col("dst").cast(pl.UInt64)).alias(PAIR)


def pair_ends() -> list[pl.Expr]:
    """``src`` and ``dst`` (UInt32) back from the :data:`PAIR` column."""
    return [
        (pl.col(PAIR) // _HIGH).cast(pl.UInt32).alias("src"),
        (pl.col(PAIR) % _HIGH).cast(pl.UInt32).alias("dst"),
    ]


EDGE_SCHEMA = pl.Schema(
    {
        "src": pl.UInt32(),
        "dst": pl.UInt32(),
        "kind": pl.Utf8(),
        "key": pl.Utf8(),
        "group_size": pl.UInt32(),
        "weight": pl.Float64(),
        "pairs": pl.Float64(),
    }
)
SKIPPED_SCHEMA = pl.Schema(
    {
        "kind": pl.Utf8(),
        "key": pl.Utf8(),
        "group_size": pl.UInt32(),
    }
)


def empty_edges() -> pl.DataFrame:
    return pl.DataFrame(schema=EDGE_SCHEMA)
