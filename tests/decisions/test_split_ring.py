"""End to end: a low-and-slow ring splitting a benchmark next to a class asking it at random.

Both groups look the same from outside: one proxy /24 and a shared system prompt, a dozen
benchmark items per account, their own templates, no shared cards, no lockstep timing. The
only difference is that the ring's accounts never ask the same item (each has its slice),
while the students overlap as much as chance gives. Expected overlap per pair is ~0.01
items, so no pairwise edge can tell them apart; the group can.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from distillguard import schema as S
from distillguard.decisions import DetectionConfig

if TYPE_CHECKING:
    from tests.decisions.conftest import Verdict

T0 = datetime(2026, 3, 2, tzinfo=UTC)
SIZE = 14_000
CONFIG = DetectionConfig(dataset_sizes={"bench": SIZE})
FLAGGED = ("review", "throttle", "downgrade", "block")


def world(seed: int, *, ring: bool) -> tuple[list[dict[str, object]], list[tuple[str, str]]]:
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    labels: list[tuple[str, str]] = []

    def group(name: str, subnet: str, items: list[list[int]], population: str) -> None:
        for i, slice_ in enumerate(items):
            a = f"s{seed}-{name}{i}"
            labels.append((a, population))
            for k, item in enumerate(slice_):
                rows.append(
                    {
                        S.TIMESTAMP: T0 + timedelta(minutes=rng.uniform(0, 2880)),
                        S.ACCOUNT: a,
                        S.CLIENT_ADDRESS: f"{subnet}.{rng.randint(1, 250)}",
                        S.PAYMENT: f"pm-{a}",
                        S.TURNS: 1,
                        "template.cluster": rng.randint(0, 10**6) if k % 2 else 100 * seed + i,
                        "system.id": 4242 + seed,
                        "signal.reasoning": 0.9,
                        "dataset.name": "bench",
                        "dataset.item": str(item),
                    }
                )

    for i in range(300):  # background chat users
        a = f"s{seed}-chat{i}"
        labels.append((a, "chat"))
        for _ in range(rng.randint(2, 20)):
            rows.append(
                {
                    S.TIMESTAMP: T0 + timedelta(minutes=rng.uniform(0, 2880)),
                    S.ACCOUNT: a,
                    S.CLIENT_ADDRESS: f"81.{i}.{seed}.{rng.randint(1, 250)}",
                    S.PAYMENT: f"pm-{a}",
                    S.TURNS: rng.randint(1, 6),
                    "template.cluster": rng.randint(0, 10**6),
                }
            )
    # A class of 40 asking the benchmark at random: overlap as chance gives (~12 shared).
    group("student", "130.1.1", [rng.sample(range(SIZE), 20) for _ in range(40)], "researcher")
    if ring:  # 40 accounts, disjoint 20-item slices of one pool
        pool = rng.sample(range(SIZE), 800)
        group("ring", "45.9.9", [pool[r * 20 : (r + 1) * 20] for r in range(40)], "attack")
    return rows, labels


def test_a_ring_splitting_a_benchmark_is_a_campaign_a_class_asking_it_at_random_is_not(
    judge: Callable[..., Verdict],
) -> None:
    verdict = judge(world, CONFIG)
    ring, students = verdict.ring, verdict.others
    assert ring["action"].is_in(FLAGGED).mean() >= 0.9
    assert ring["campaign_id"].drop_nulls().n_unique() == 1
    assert not students["action"].is_in(FLAGGED).any()
    assert students["campaign_id"].is_null().all()


def test_the_split_is_explained_in_the_campaign_evidence(judge: Callable[..., Verdict]) -> None:
    verdict = judge(world, CONFIG, seed=3)
    texts = [e.text for c in verdict.detection.campaigns for e in c.evidence]
    assert any("split public datasets" in t and "member pairs" in t for t in texts)
