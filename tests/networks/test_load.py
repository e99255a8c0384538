"""Even load: a dispatcher spreads one queue evenly over a pool; independent people do not."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from distillguard import schema as S
from distillguard.accounts.base import SUBJECT
from distillguard.decisions.score import cluster_scores
from distillguard.networks import EDGE_KINDS, load_evenness

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def requests(times: list[list[float]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(frame of requests at these hours per member, membership of one cluster)."""
    frame = pl.DataFrame(
        {
            SUBJECT: [m for m, hours in enumerate(times) for _ in hours],
            S.TIMESTAMP: [T0 + timedelta(hours=h) for hours in times for h in hours],
        },
        schema={SUBJECT: pl.UInt32, S.TIMESTAMP: pl.Datetime("us", "UTC")},
    )
    membership = pl.DataFrame(
        {SUBJECT: list(range(len(times))), "cluster": [0] * len(times)},
        schema={SUBJECT: pl.UInt32, "cluster": pl.UInt32},
    )
    return frame, membership


def evenness(times: list[list[float]]) -> float:
    return float(load_evenness(*requests(times)).row(0, named=True)["load_evenness"])


def round_robin(accounts: int, queue: int, hours: float = 4.0) -> list[list[float]]:
    """A steady queue handed to the next account of the pool, request by request."""
    times: list[list[float]] = [[] for _ in range(accounts)]
    for j in range(queue):
        times[j % accounts].append(hours * j / queue)
    return times


def at_random(counts: list[int], seed: int, hours: float = 24.0) -> list[list[float]]:
    rng = random.Random(seed)
    return [[rng.uniform(0, hours) for _ in range(n)] for n in counts]


def test_a_round_robin_pool_is_even() -> None:
    # 22 accounts with 15 or 16 requests each four hours in (a load-balanced ring).
    assert evenness(round_robin(22, 341)) == 1.0


def test_independent_poisson_senders_are_not_even() -> None:
    # Even identical Poisson senders spread their counts as widely as the mean.
    counts = [int(n) for n in np.random.default_rng(3).poisson(30.0, size=30)]
    assert evenness(at_random(counts, 3)) == 0.0


def test_independent_people_are_not_even() -> None:
    rng = random.Random(4)
    counts = [max(1, int(rng.lognormvariate(3.0, 1.2))) for _ in range(40)]
    counts[0] = 20  # the median must not decide alone
    assert evenness(at_random(counts, 4)) == 0.0


def test_a_class_asking_twenty_questions_each_at_its_own_pace_is_not_even() -> None:
    # Even in total (an assignment, a quota), but each member at its own pace.
    for seed in range(10):
        assert evenness(at_random([20] * 40, seed)) == 0.0


def test_an_eval_org_sharding_over_three_accounts_counts_little() -> None:
    # Perfectly even, but three accounts are one organisation as often as not.
    assert 0.0 < evenness(round_robin(3, 1200)) <= 0.18


def test_a_crowd_of_one_request_users_is_not_even() -> None:
    assert evenness(round_robin(30, 30)) == 0.0
    assert evenness(round_robin(30, 75)) == 0.0


def test_pairs_are_never_even() -> None:
    assert evenness(round_robin(2, 100)) == 0.0


def test_even_load_is_independent_evidence_of_one_operator() -> None:
    row: dict[str, object] = {f"density.{k}": 0.0 for k in EDGE_KINDS}
    row |= {"cluster": 0, "size": 22, "load_evenness": 1.0, "harvest_share": 1.0}
    row |= {"succession_share": 0.0, "creation_burst": 0.0, "dataset_redundancy": 0.0}
    row |= {"template_concentration": 0.0, "pivot_share": 0.0}
    got = cluster_scores(pl.DataFrame([row])).row(0, named=True)
    assert got["coordination"] == 1.0
    row["load_evenness"] = 0.0
    assert cluster_scores(pl.DataFrame([row])).row(0, named=True)["coordination"] == 0.0
