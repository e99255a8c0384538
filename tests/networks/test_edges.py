"""Edges: rarity weighting, what links and what must never link, bounded fan-out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from distillguard import schema as S
from distillguard.accounts import subject_profiles, with_subject
from distillguard.networks import (
    EDGE_SCHEMA,
    build_edges,
    coverage_edges,
    shared_key_edges,
    succession_edges,
    synchrony,
    synchrony_edges,
)

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def ev(account: str, minutes: float, **extra: object) -> dict[str, object]:
    return {S.TIMESTAMP: T0 + timedelta(minutes=minutes), S.ACCOUNT: account, **extra}


def prepared(rows: list[dict[str, object]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    f = with_subject(pl.DataFrame(rows, infer_schema_length=None))
    return f, subject_profiles(f)


def members(pairs: list[tuple[int, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {"subject.idx": [p[0] for p in pairs], "key": [p[1] for p in pairs]},
        schema={"subject.idx": pl.UInt32, "key": pl.Utf8},
    )


def test_shared_payment_ring_links_every_member() -> None:
    ring = members([(i, "pm_ring") for i in range(30)] + [(i, f"pm_{i}") for i in range(30, 300)])
    edges, skipped = shared_key_edges(ring, kind="payment", population=300)
    assert edges.schema == pl.Schema(EDGE_SCHEMA)
    assert edges.height == 30 * 29 // 2
    assert skipped.height == 0
    assert edges["weight"].min() > 0.4  # a payment instrument shared by 30 is strong


def test_rarity_weighting_a_huge_nat_ip_is_weak_and_beyond_the_cap_skipped() -> None:
    nat = members([(i, "10.0.0.1") for i in range(5000)] + [(5000, "1.2.3.4"), (5001, "1.2.3.4")])
    edges, skipped = shared_key_edges(nat, kind="ip", population=20_000, max_group=10_000)
    by_key = edges.group_by("key").agg(pl.col("weight").max())
    weights = dict(zip(by_key["key"], by_key["weight"], strict=True))
    assert weights["10.0.0.1"] < 0.2 * weights["1.2.3.4"]
    # Bounded fan-out: a circulant (16 neighbours each), not 12.5M pairs.
    big = edges.filter(pl.col("key") == "10.0.0.1")
    assert big.height == 5000 * 16
    assert big.select(pl.struct("src", "dst").n_unique()).item() == big.height
    _, skipped = shared_key_edges(nat, kind="ip", population=20_000, max_group=4000)
    assert skipped.to_dicts() == [{"kind": "ip", "key": "10.0.0.1", "group_size": 5000}]


def test_a_shared_popular_user_agent_never_links() -> None:
    rows = [ev(f"a{i}", i, **{S.USER_AGENT: "OpenAI/Python 1.40.0"}) for i in range(50)]
    f, p = prepared(rows)
    edges, _ = build_edges(f, p)
    assert edges.height == 0


def test_infrastructure_of_router_end_users_does_not_link_them() -> None:
    rows = [
        ev(
            "platform",
            i,
            **{
                S.ENDUSER: f"u{i % 10}",
                S.ROUTER: "r",
                S.CLIENT_ADDRESS: "9.9.9.9",
                S.PAYMENT: "pm_platform",
            },
        )
        for i in range(100)
    ]
    f, p = prepared(rows)
    edges, _ = build_edges(f, p)
    assert edges.filter(pl.col("kind").is_in(["ip", "payment", "ip24"])).height == 0


def test_shared_ip_links_direct_accounts_with_kind_and_key() -> None:
    rows = [ev("a", i, **{S.CLIENT_ADDRESS: "5.6.7.8"}) for i in range(3)]
    rows += [ev("b", i, **{S.CLIENT_ADDRESS: "5.6.7.8"}) for i in range(3)]
    rows += [ev(f"c{i}", i, **{S.CLIENT_ADDRESS: f"7.7.{i}.1"}) for i in range(20)]
    f, p = prepared(rows)
    edges, _ = build_edges(f, p)
    ip = edges.filter(pl.col("kind") == "ip")
    assert ip.height == 1 and ip["key"][0] == "5.6.7.8"
    assert edges.filter(pl.col("kind") == "ip24")["key"].to_list() == ["5.6.7.0/24"]


def test_complementary_coverage_links_a_split_pool_but_not_a_rerun() -> None:
    rows = []
    for a in range(4):  # four accounts split 400 items into disjoint slices
        rows += [
            ev(f"split{a}", i, **{"dataset.name": "bench", "dataset.item": str(a * 100 + i)})
            for i in range(100)
        ]
    for a in range(2):  # two evaluators re-run the same 100 items
        rows += [
            ev(f"eval{a}", i, **{"dataset.name": "bench", "dataset.item": str(i)})
            for i in range(100)
        ]
    rows += [ev(f"other{i}", i) for i in range(30)]  # co-targeting is rare among everyone
    f, p = prepared(rows)
    edges = coverage_edges(f, population=p.height, dataset_sizes={"bench": 400})
    names = dict(zip(p["subject.idx"], p[S.ACCOUNT], strict=True))
    linked = {
        tuple(sorted((names[a], names[b]))) for a, b in zip(edges["src"], edges["dst"], strict=True)
    }
    assert ("split0", "split1") in linked and ("split2", "split3") in linked
    assert ("eval0", "eval1") not in linked
    assert all(w > 0 for w in edges["weight"])


def test_synchrony_links_lockstep_accounts_only() -> None:
    rows = []
    for h in range(12):  # a and b send template 7 in the same half hours; c does so hours apart
        rows += [
            ev("a", h * 60 + 1, **{"template.cluster": 7}),
            ev("b", h * 60 + 4, **{"template.cluster": 7}),
            ev("c", h * 60 + 1 + (24 * 60 if h % 2 else 13 * 60), **{"template.cluster": 7}),
        ]
    f, _ = prepared(rows)
    edges = synchrony_edges(f)
    assert edges.height == 1
    assert edges["weight"][0] > 0.5


def test_synchrony_counted_in_slices_of_cells_is_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = []
    for h in range(12):  # three lockstep pairs on three templates, some cells shared by all
        for pair, template in (("ab", 1), ("cd", 2), ("ef", 3)):
            rows += [ev(pair[0], h * 60 + 1, **{"template.cluster": template})]
            rows += [ev(pair[1], h * 60 + 5, **{"template.cluster": template})]
        rows += [ev("a", h * 60 + 2, **{"template.cluster": 2})]
    f, _ = prepared(rows)
    whole = synchrony_edges(f)
    monkeypatch.setattr(synchrony, "_CELLS_PER_SLICE", 5)
    sliced = synchrony_edges(f)
    assert whole.height >= 3
    assert sliced.sort("src", "dst").equals(whole.sort("src", "dst"))


def test_succession_links_a_fresh_replacement_to_the_account_that_stopped() -> None:
    created = T0 + timedelta(hours=5)
    rows = [ev("old", i * 10, **{S.PAYMENT: "pm_x"}) for i in range(30)]  # stops at ~5 h
    rows += [
        ev("new", 310 + i * 10, **{S.PAYMENT: "pm_x", S.ACCOUNT_CREATED: created})
        for i in range(60)
    ]
    rows += [ev("tail", 24 * 60)]  # data runs on for a day
    f, p = prepared(rows)
    edges, _ = build_edges(f, p)
    succ = edges.filter(pl.col("kind") == "succession")
    assert succ.height == 1
    candidates = edges.filter(pl.col("kind") == "payment")
    assert (
        succession_edges(candidates, p.with_columns(pl.lit(False).alias("new_account"))).height == 0
    )


def test_build_edges_orders_by_pair_kind_and_key_and_drops_weightless_edges() -> None:
    rows = []
    for i, account in enumerate("abcdef"):  # pairs share several IPs, a card, a TLS stack
        for n in range(4):
            rows.append(
                ev(
                    account,
                    i * 7 + n,
                    **{
                        S.CLIENT_ADDRESS: f"10.1.{n % 2}.{(i + n) % 3}",
                        S.PAYMENT: f"pm_{i // 3}",
                        S.TLS_FINGERPRINT: "ja3_x",
                    },
                )
            )
    f, p = prepared(rows)
    edges, _ = build_edges(f, p)
    assert edges.schema == pl.Schema(EDGE_SCHEMA)
    assert set(edges["kind"]) == {"ip", "payment"}  # a TLS stack everyone shares weighs 0
    assert edges.height > edges.select(pl.struct("src", "dst", "kind").n_unique()).item()
    assert edges["weight"].min() > 0
    assert edges.equals(edges.sort("src", "dst", "kind", "key"))
