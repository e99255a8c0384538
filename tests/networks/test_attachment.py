"""Typed member attachment and succession kinds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from distillguard import schema as S
from distillguard.accounts import subject_profiles, with_subject
from distillguard.networks import CLUSTER, EDGE_SCHEMA, build_edges, member_attachment, pair_weights

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def edge(src: int, dst: int, kind: str, weight: float) -> dict[str, object]:
    return {"src": src, "dst": dst, "kind": kind, "key": kind, "group_size": 2,
            "weight": weight, "pairs": 1.0}  # fmt: skip


def test_a_member_tied_only_by_coverage_to_a_card_sharing_ring_is_weakly_attached() -> None:
    rows = [edge(a, b, "payment", 1.0) for a in range(10) for b in range(a + 1, 10)]
    rows += [edge(a, b, "synchrony", 0.6) for a in range(10) for b in range(a + 1, 10)]
    # Subject 10 (a researcher) asks the ring's dataset: coverage ties to everyone.
    rows += [edge(a, 10, "coverage", 0.3) for a in range(10)]
    edges = pl.DataFrame(rows).cast(EDGE_SCHEMA)
    membership = pl.DataFrame(
        {"subject.idx": list(range(11)), CLUSTER: [0] * 11},
        schema={"subject.idx": pl.UInt32, CLUSTER: pl.UInt32},
    )
    weights = pair_weights(edges)
    untyped = member_attachment(weights, membership)
    typed = member_attachment(weights, membership, edges)
    researcher = typed.filter(pl.col("subject.idx") == 10)["attachment"].item()
    assert untyped.filter(pl.col("subject.idx") == 10)["attachment"].item() > 0.5
    assert researcher < 0.3
    assert typed.filter(pl.col("subject.idx") < 10)["attachment"].min() > 0.8  # type: ignore[operator]


def ev(account: str, minutes: float, **extra: object) -> dict[str, object]:
    return {S.TIMESTAMP: T0 + timedelta(minutes=minutes), S.ACCOUNT: account, **extra}


def test_a_new_account_on_a_shared_campus_slash24_is_no_successor() -> None:
    created = T0 + timedelta(hours=5)
    rows = [ev("old", i * 10, **{S.CLIENT_ADDRESS: "10.1.2.3"}) for i in range(30)]
    rows += [
        ev("new", 310 + i * 10, **{S.CLIENT_ADDRESS: "10.1.2.77", S.ACCOUNT_CREATED: created})
        for i in range(30)
    ]
    rows += [ev("tail", 24 * 60)]
    f = with_subject(pl.DataFrame(rows, infer_schema_length=None))
    edges, _ = build_edges(f, subject_profiles(f))
    assert edges.filter(pl.col("kind") == "ip24").height == 1
    assert edges.filter(pl.col("kind") == "succession").height == 0
