"""Leiden CPM clustering and cluster features."""

from __future__ import annotations

import polars as pl

from distillguard.networks import leiden_clusters, pair_weights


def ring_edges(start: int, size: int, weight: float) -> list[tuple[int, int, float]]:
    return [(start + i, start + j, weight) for i in range(size) for j in range(i + 1, size)]


def weights(edges: list[tuple[int, int, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "src": [e[0] for e in edges],
            "dst": [e[1] for e in edges],
            "weight": [e[2] for e in edges],
        },
        schema={"src": pl.UInt32, "dst": pl.UInt32, "weight": pl.Float64},
    )


def test_small_rings_are_not_merged() -> None:
    # Two rings of five joined by one weak bridge; modularity would be tempted, CPM is not.
    edges = ring_edges(0, 5, 1.0) + ring_edges(5, 5, 1.0) + [(4, 5, 0.1)]
    out = leiden_clusters(weights(edges), resolution=0.05)
    groups = out.group_by("cluster").agg(pl.col("subject.idx").sort()).sort("cluster")
    assert sorted(map(list, groups["subject.idx"].to_list())) == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]


def test_weak_lone_links_make_no_cluster() -> None:
    out = leiden_clusters(weights([(0, 1, 0.01), (2, 3, 0.02)]), resolution=0.05)
    assert out.height == 0


def test_clustering_is_deterministic() -> None:
    edges = weights(ring_edges(0, 8, 0.5) + ring_edges(8, 6, 0.7) + [(3, 9, 0.2), (1, 12, 0.2)])
    assert leiden_clusters(edges).equals(leiden_clusters(edges))


def test_pair_weights_keep_the_strongest_edge_per_kind_and_add_kinds() -> None:
    edges = pl.DataFrame(
        {
            "src": [0, 0, 0],
            "dst": [1, 1, 1],
            "kind": ["ip", "ip", "payment"],
            "key": ["a", "b", "p"],
            "group_size": [2, 2, 2],
            "weight": [0.3, 0.5, 1.0],
            "pairs": [1.0, 1.0, 1.0],
        },
        schema={
            "src": pl.UInt32,
            "dst": pl.UInt32,
            "kind": pl.Utf8,
            "key": pl.Utf8,
            "group_size": pl.UInt32,
            "weight": pl.Float64,
            "pairs": pl.Float64,
        },
    )
    assert pair_weights(edges)["weight"].to_list() == [1.5]


def test_densities_do_not_depend_on_the_order_of_the_edges() -> None:
    import numpy as np

    from distillguard.networks import cluster
    from distillguard.networks.base import EDGE_SCHEMA
    from distillguard.networks.edges import BASE_WEIGHTS

    rng = np.random.default_rng(3)
    n, m = 400, 1_000_000  # enough rows for a multithreaded group-by
    src = rng.integers(0, n - 1, m)
    dst = src + rng.integers(1, 40, m)
    kinds = np.array(sorted(BASE_WEIGHTS))
    edges = (
        pl.DataFrame(
            {
                "src": np.minimum(src, n - 1),
                "dst": np.minimum(dst, n - 1),
                "kind": kinds[rng.integers(0, len(kinds), m)],
                "key": rng.integers(0, 50, m).astype(str),
                "group_size": rng.integers(2, 90, m),
                "weight": rng.uniform(0, 1, m) ** 3,  # spread magnitudes: the sum order shows
                "pairs": 1.0,
            }
        )
        .filter(pl.col("src") < pl.col("dst"))
        .cast(EDGE_SCHEMA)
    )
    membership = pl.DataFrame(
        {"subject.idx": np.arange(n), "cluster": np.arange(n) // 100},
        schema={"subject.idx": pl.UInt32, "cluster": pl.UInt32},
    )
    sizes = membership.group_by("cluster").agg(pl.len().cast(pl.UInt32).alias("size"))
    want = cluster._densities(edges, membership, sizes).sort("cluster")
    for seed in range(3):
        shuffled = edges.sample(fraction=1.0, shuffle=True, seed=seed)
        assert cluster._densities(shuffled, membership, sizes).sort("cluster").equals(want)
    assert want.height == 4 and want["density.ip"].min() > 0
