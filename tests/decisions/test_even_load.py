"""End to end: a load-balanced ring next to a class asking the same benchmark.

Both groups look alike from outside: one /24 each, reasoning-eliciting benchmark questions
drawn at random (no split to see), their own templates, no shared cards, no lockstep
timing. The ring's dispatcher hands its queue round-robin to 24 accounts, so each sends
exactly as many requests as the next; the students send as many as each of them likes.
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

    def account(a: str, subnet: str, minutes: list[float], own_template: int) -> None:
        for k, minute in enumerate(minutes):
            rows.append(
                {
                    S.TIMESTAMP: T0 + timedelta(minutes=minute),
                    S.ACCOUNT: a,
                    S.CLIENT_ADDRESS: f"{subnet}.{rng.randint(1, 250)}",
                    S.PAYMENT: f"pm-{a}",
                    S.TURNS: 1,
                    "template.cluster": rng.randint(0, 10**6) if k % 2 else own_template,
                    "signal.reasoning": 0.9,
                    "dataset.name": "bench",
                    "dataset.item": str(rng.randrange(SIZE)),
                }
            )

    for i in range(300):  # background chat users
        a = f"s{seed}-chat{i}"
        labels.append((a, "chat"))
        for _ in range(rng.randint(2, 20)):
            rows.append(
                {
                    S.TIMESTAMP: T0 + timedelta(minutes=rng.uniform(0, 1440)),
                    S.ACCOUNT: a,
                    S.CLIENT_ADDRESS: f"81.{i}.{seed}.{rng.randint(1, 250)}",
                    S.PAYMENT: f"pm-{a}",
                    S.TURNS: rng.randint(1, 6),
                    "template.cluster": rng.randint(0, 10**6),
                }
            )
    for i in range(40):  # a class: as many requests as each student likes
        a = f"s{seed}-student{i}"
        labels.append((a, "researcher"))
        n = max(3, round(rng.lognormvariate(2.5, 0.8)))
        account(a, "130.1.1", [rng.uniform(0, 1440) for _ in range(n)], 100 * seed + i)
    if ring:  # a steady queue of 288 requests handed round-robin to 24 accounts
        for i in range(24):
            a = f"s{seed}-ring{i}"
            labels.append((a, "attack"))
            account(a, "45.9.9", [5.0 * (24 * r + i) for r in range(12)], 10_000 + 100 * seed + i)
    return rows, labels


def test_a_load_balanced_ring_is_a_campaign_a_class_is_not(judge: Callable[..., Verdict]) -> None:
    verdict = judge(world, CONFIG)
    ring, students = verdict.ring, verdict.others
    assert ring["action"].is_in(FLAGGED).mean() >= 0.9
    assert ring["campaign_id"].drop_nulls().n_unique() == 1
    assert not students["action"].is_in(FLAGGED).any()
    texts = [e.text for c in verdict.detection.campaigns for e in c.evidence]
    assert any("evenly as a load balancer" in t for t in texts)
