"""Split benchmarks: a ring hands out disjoint slices of one dataset; evaluators do not."""

from __future__ import annotations

import random

import polars as pl

from distillguard.accounts.base import DATASET_ITEM, DATASET_NAME, SUBJECT
from distillguard.decisions.score import SPLIT_EVIDENCE, cluster_scores
from distillguard.networks import (
    EDGE_KINDS,
    dataset_participation,
    dataset_split,
    extend_split_clusters,
)

MMLU = 14_000


def items(rows: list[tuple[int, int]], dataset: str = "mmlu") -> pl.DataFrame:
    """Feature-frame rows (subject, item) for one dataset."""
    return pl.DataFrame(
        {
            SUBJECT: [s for s, _ in rows],
            DATASET_NAME: [dataset] * len(rows),
            DATASET_ITEM: [f"{dataset}:{i}" for _, i in rows],
        },
        schema={SUBJECT: pl.UInt32, DATASET_NAME: pl.Utf8, DATASET_ITEM: pl.Utf8},
    )


def one_cluster(members: int, cluster: int = 0) -> pl.DataFrame:
    return pl.DataFrame(
        {SUBJECT: list(range(members)), "cluster": [cluster] * members},
        schema={SUBJECT: pl.UInt32, "cluster": pl.UInt32},
    )


def split_of(frame: pl.DataFrame, members: int) -> dict[str, float]:
    out = dataset_split(frame, one_cluster(members), {"mmlu": MMLU})
    return out.row(0, named=True)


def test_a_ring_splitting_a_dataset_in_small_slices_is_a_split() -> None:
    # 40 accounts x 20 items of MMLU, disjoint: pairwise nothing to see (0.03 shared items
    # expected per pair), but together they should share ~22 by chance and share none.
    pool = random.Random(1).sample(range(MMLU), 800)
    rows = [(s, pool[s * 20 + k]) for s in range(40) for k in range(20)]
    got = split_of(items(rows), 40)
    assert got["dataset_shared"] == 0
    assert 20 < got["dataset_expected_shared"] < 25
    assert got["dataset_split"] == 1.0


def test_independent_users_of_a_dataset_are_no_split() -> None:
    rng = random.Random(2)
    rows = [(s, i) for s in range(40) for i in rng.sample(range(MMLU), 20)]
    rows += [(0, i) for i in rng.sample(range(MMLU), 700)]  # chance overlap, made visible
    got = split_of(items(rows), 40)
    assert got["dataset_split"] < 0.5


def test_an_eval_runner_sweeping_a_dataset_alone_or_rerun_by_colleagues_is_no_split() -> None:
    # Alone: no pairs, nothing expected.
    alone = split_of(items([(0, i) for i in range(MMLU)]), 1)
    assert alone["dataset_expected_shared"] == 0 and alone["dataset_split"] == 0.0
    # Three colleagues re-running the same 500 items: far more overlap than chance.
    rerun = split_of(items([(s, i) for s in range(3) for i in range(500)]), 3)
    assert rerun["dataset_shared"] == 1500 and rerun["dataset_split"] == 0.0


def test_too_few_items_to_expect_any_overlap_say_nothing() -> None:
    rows = [(s, s * 5 + k) for s in range(10) for k in range(5)]  # E = 0.08
    assert split_of(items(rows), 10)["dataset_split"] < 0.01


def test_an_eval_org_splitting_a_benchmark_over_three_accounts_is_a_weak_split() -> None:
    rows = [(s, s * 3000 + k) for s in range(3) for k in range(3000)]  # E = 964, none shared
    got = split_of(items(rows), 3)
    assert got["dataset_split_members"] == 3 and got["dataset_split"] < 0.2


def test_two_big_disjoint_sweeps_do_not_make_a_crowd_of_small_users_a_split() -> None:
    # Two eval runners sweeping different MMLU subjects (disjoint by design) next to eight
    # users with a few random items each: the sweeps alone would "expect" 280 shared items.
    rng = random.Random(3)
    rows = [(0, i) for i in range(3700)] + [(1, i) for i in range(5000, 6060)]
    rows += [(s, i) for s in range(2, 10) for i in rng.sample(range(MMLU), 5)]
    got = split_of(items(rows), 10)
    assert got["dataset_split"] < 0.05


def test_split_is_independent_evidence_of_one_operator() -> None:
    row: dict[str, object] = {f"density.{k}": 0.0 for k in EDGE_KINDS}
    row |= {"cluster": 0, "size": 40, "dataset_split": 1.0, "harvest_share": 1.0}
    row |= {"succession_share": 0.0, "creation_burst": 0.0, "dataset_redundancy": 0.0}
    row |= {"template_concentration": 0.0, "pivot_share": 0.0}
    got = cluster_scores(pl.DataFrame([row])).row(0, named=True)
    assert got[SPLIT_EVIDENCE] == 1.0 and got["coordination"] == 1.0


def test_every_slice_taker_participates_a_bystander_with_no_items_does_not() -> None:
    rows = [(s, s * 20 + k) for s in range(4) for k in range(20)] + [(4, 99_999)]
    frame = items(rows).vstack(
        pl.DataFrame(
            {SUBJECT: [5], DATASET_NAME: [None], DATASET_ITEM: [None]},
            schema={SUBJECT: pl.UInt32, DATASET_NAME: pl.Utf8, DATASET_ITEM: pl.Utf8},
        )
    )
    got = dataset_participation(frame, one_cluster(6))
    share = dict(zip(got[SUBJECT].to_list(), got["dataset_participation"].to_list(), strict=True))
    assert all(share[s] == 1.0 for s in range(4))
    assert share[5] == 0.0 and share[4] < 1.0


def pair_weight_frame(pairs: list[tuple[int, int, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "src": [p[0] for p in pairs],
            "dst": [p[1] for p in pairs],
            "weight": [p[2] for p in pairs],
        },
        schema={"src": pl.UInt32, "dst": pl.UInt32, "weight": pl.Float64},
    )


def test_a_loose_slice_of_a_split_ring_joins_it_a_neighbour_that_never_asked_does_not() -> None:
    # 30 ring accounts (0..29) with disjoint 20-item slices, clustered; 30 takes its own
    # slice but shares the proxies of only a third of the ring; 31 shares them as much and
    # never asked the benchmark; 32 asked it and shares nothing with the ring.
    pool = random.Random(4).sample(range(MMLU), 660)
    rows = [(s, pool[s * 20 + k]) for s in range(30) for k in range(20)]
    rows += [(30, pool[600 + k]) for k in range(20)] + [(32, pool[620 + k]) for k in range(20)]
    frame = items(rows)
    ring = [(a, b, 0.15) for a in range(30) for b in range(a + 1, 30)]
    loose = [(a, n, 0.15) for n in (30, 31) for a in range(10)]
    membership = one_cluster(30)
    out = extend_split_clusters(
        frame, pair_weight_frame(ring + loose), membership, {"mmlu": MMLU}, resolution=0.05
    )
    clustered = dict(zip(out[SUBJECT].to_list(), out["cluster"].to_list(), strict=True))
    assert clustered.get(30) == 0
    assert 31 not in clustered and 32 not in clustered


def test_a_subject_asking_items_the_ring_asked_does_not_join() -> None:
    pool = random.Random(5).sample(range(MMLU), 620)
    rows = [(s, pool[s * 20 + k]) for s in range(30) for k in range(20)]
    rows += [(30, pool[k]) for k in range(20)]  # the same items as member 0: a re-run
    ring = [(a, b, 0.15) for a in range(30) for b in range(a + 1, 30)]
    loose = [(a, 30, 0.15) for a in range(10)]
    out = extend_split_clusters(
        items(rows), pair_weight_frame(ring + loose), one_cluster(30), {"mmlu": MMLU}
    )
    assert 30 not in out[SUBJECT].to_list()


def test_colleagues_making_overlapping_passes_over_a_benchmark_overlap_a_ring_does_not() -> None:
    # An eval org: four colleagues sweep MMLU subjects (a few hundred items each), two of
    # them the same subject and a third re-running part of it: repeated, overlapping passes.
    evals = [(s, i) for s in (0, 1) for i in range(500)] + [(2, i) for i in range(200)]
    evals += [(3, i) for i in range(5000, 5800)]
    got = split_of(items(evals), 4)
    assert got["dataset_shared"] > 2 * got["dataset_expected_shared"]
    assert got["dataset_overlap"] == 1.0 and got["dataset_split"] == 0.0
    pool = random.Random(6).sample(range(MMLU), 800)
    ring = split_of(items([(s, pool[s * 20 + k]) for s in range(40) for k in range(20)]), 40)
    assert ring["dataset_overlap"] == 0.0 and ring["dataset_split"] == 1.0


def test_users_drawn_to_a_benchmark_at_random_do_not_overlap() -> None:
    rng = random.Random(7)
    rows = [(s, i) for s in range(40) for i in rng.sample(range(MMLU), 40)]
    assert split_of(items(rows), 40)["dataset_overlap"] < 0.2
