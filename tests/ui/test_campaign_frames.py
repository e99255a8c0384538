"""Per-campaign report data: request timelines and the edges among members."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from distillguard import schema as S
from distillguard.records import Campaign
from distillguard.ui import outputs
from distillguard.ui.outputs import edge_frame, timeline_frame

HOUR = datetime(2026, 3, 1, tzinfo=UTC)


def _campaign(cid: str, *members: str) -> Campaign:
    return Campaign(campaign_id=cid, members=members, score=0.5, evidence=(), features={})


def test_timeline_counts_each_members_requests_per_hour_in_every_campaign() -> None:
    minutes = [0, 10, 70, 5, 65, 20]
    events = pl.DataFrame(
        {
            S.TIMESTAMP: [HOUR + timedelta(minutes=m) for m in minutes],
            S.ACCOUNT: ["a", "a", "a", "b", "b", "other"],
            S.ENDUSER: [None, None, None, "u1", "u1", None],
        },
        schema_overrides={S.TIMESTAMP: pl.Datetime("us", "UTC")},
    )
    campaigns = (_campaign("c2", "a"), _campaign("c1", "b/u1", "a"))
    got = timeline_frame(events, campaigns)
    later = HOUR + timedelta(hours=1)
    want = pl.DataFrame(
        {
            "campaign_id": ["c1", "c1", "c1", "c1", "c2", "c2"],
            "account": ["a", "a", "b/u1", "b/u1", "a", "a"],
            "hour": [HOUR, later, HOUR, later, HOUR, later],
            "requests": [2, 1, 1, 1, 2, 1],
        },
        schema_overrides={"hour": pl.Datetime("us", "UTC"), "requests": pl.UInt32},
    )
    assert_frame_equal(got, want)
    assert timeline_frame(events, ()).height == 0


def test_timeline_finds_members_whose_ids_hold_slashes() -> None:
    events = pl.DataFrame(
        {
            S.TIMESTAMP: [HOUR] * 4,
            S.ACCOUNT: ["org/x", "org/x", "org/x", "org"],
            S.ENDUSER: [None, "u/2", "u/2", "x/u/2"],
        },
        schema_overrides={S.TIMESTAMP: pl.Datetime("us", "UTC")},
    )
    got = timeline_frame(events, (_campaign("c1", "org/x", "org/x/u/2"),))
    # "org" + "x/u/2" is named "org/x/u/2" too: both rows belong to that member.
    assert dict(zip(got["account"], got["requests"], strict=True)) == {"org/x": 1, "org/x/u/2": 3}


def test_edges_among_members_summed_strongest_first_in_campaign_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    edges = pl.DataFrame(
        {
            "src_account": ["a", "a", "b", "a", "c"],
            "dst_account": ["b", "b", "c", "d", "a"],
            "kind": ["payment", "template", "network", "payment", "network"],
            "weight": [1.0, 2.0, 1.5, 5.0, 0.5],
        }
    )
    campaigns = (_campaign("c9", "a", "b", "c"), _campaign("c1", "b", "a"))
    want = pl.DataFrame(
        {
            "campaign_id": ["c9", "c9", "c9", "c1"],
            "a": ["a", "b", "c", "a"],
            "b": ["b", "c", "a", "b"],
            "weight": [3.0, 1.5, 0.5, 3.0],
        }
    )
    assert_frame_equal(edge_frame(edges, campaigns), want)
    monkeypatch.setattr(outputs, "_GRAPH_EDGES", 1)
    assert_frame_equal(edge_frame(edges, campaigns), want[[0, 3]])
    assert edge_frame(edges, ()).height == 0


def test_edges_between_router_users_and_slashed_ids_are_kept() -> None:
    edges = pl.DataFrame(
        {
            "src_account": ["org/x", "org/x", "zz"],
            "src_enduser": [None, "u/2", None],
            "dst_account": ["org", "r", "org/x"],
            "dst_enduser": ["x/u/2", "u1", None],
            "weight": [1.0, 2.0, 4.0],
        }
    )
    got = edge_frame(edges, (_campaign("c1", "org/x", "org/x/u/2", "r/u1"),))
    pairs = {(a, b): w for a, b, w in zip(got["a"], got["b"], got["weight"], strict=True)}
    assert pairs == {("org/x", "org/x/u/2"): 1.0, ("org/x/u/2", "r/u1"): 2.0}


def test_indexed_edges_give_the_named_result() -> None:
    # decisions' edges carry subject indices: matched on them, named last; same frame.
    accounts = ["a", "a", "b", "a", "c", "org/x", "org/x"]
    endusers = [None, None, None, None, None, None, "u/2"]
    dst = ["b", "b", "c", "d", "a", "org", "r"]
    dst_users = [None, None, None, None, None, "x/u/2", "u1"]
    index = {
        k: i
        for i, k in enumerate(dict.fromkeys(zip(accounts + dst, endusers + dst_users, strict=True)))
    }
    edges = pl.DataFrame(
        {
            "src": [index[k] for k in zip(accounts, endusers, strict=True)],
            "dst": [index[k] for k in zip(dst, dst_users, strict=True)],
            "src_account": accounts,
            "src_enduser": endusers,
            "dst_account": dst,
            "dst_enduser": dst_users,
            "weight": [1.0, 2.0, 1.5, 5.0, 0.5, 1.0, 2.0],
        },
        schema_overrides={"src": pl.UInt32, "dst": pl.UInt32},
    )
    campaigns = (
        _campaign("c9", "a", "b", "c"),
        _campaign("c1", "b", "a", "org/x", "org/x/u/2", "r/u1"),
    )
    indexed = edge_frame(edges, campaigns)
    assert indexed.height == 6
    assert_frame_equal(indexed, edge_frame(edges.drop("src", "dst"), campaigns))
