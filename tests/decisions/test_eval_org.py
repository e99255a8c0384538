"""Eval orgs: colleagues re-running a benchmark behind one /24 are no harvesting ring.

The rows are the cluster features of the false positives that motivated these rules
(DistillBench `small`, development seed 7; `default` ×0.1, development seed 4): a campus
/24, shared harness templates and pairwise "complementary" MMLU subjects, but the members
ask the same items again as a group, or only two of the members harvest at all.
"""

from __future__ import annotations

import polars as pl

from decisions.clusters import quiet_cluster
from distillguard.decisions.score import CLUSTER_SCORE, cluster_scores

# Four eval runners and two quiet new accounts on one /24 (seed 7's cluster of six).
EVAL_ORG = quiet_cluster(
    size=6,
    harvesting_members=4,
    **{"density.ip24": 0.34, "density.template": 0.19, "density.synchrony": 0.025},
    **{"density.coverage": 0.08, "dataset_redundancy": 0.14, "template_concentration": 0.7},
    harvest_share=0.99,
    member_harvest_share=0.99,
    dataset_share=0.99,
)


def score(row: dict[str, object]) -> float:
    return float(cluster_scores(pl.DataFrame([row]))[CLUSTER_SCORE][0])


def test_an_eval_org_making_overlapping_passes_has_no_harvesting_purpose() -> None:
    # The members share 2.8 times the items chance would give them: repeated passes.
    assert score(EVAL_ORG | {"dataset_overlap": 1.0}) < 0.01
    # Without the overlap, the same cluster scores (this was the false positive).
    assert score(EVAL_ORG | {"dataset_overlap": 0.0}) > 0.05


def test_a_ring_splitting_the_pool_behind_the_same_infrastructure_still_scores() -> None:
    ring = EVAL_ORG | {"size": 40, "harvesting_members": 40, "dataset_split": 1.0}
    assert score(ring | {"dataset_overlap": 0.0}) > 0.9


def test_only_harvesting_members_count_towards_the_size() -> None:
    # Two eval runners and three new accounts that harvest nothing (default ×0.1 seed 4):
    # a pair, i.e. one organisation, however many quiet neighbours share its /24.
    pair = quiet_cluster(
        size=5,
        harvesting_members=2,
        **{"density.ip24": 0.48, "density.template": 0.1, "template_concentration": 0.75},
        harvest_share=0.99,
        member_harvest_share=0.0,
        dataset_share=0.99,
        dataset_overlap=0.0,
    )
    assert score(pair) == 0.0
    assert score(pair | {"harvesting_members": 5}) > 0.0
