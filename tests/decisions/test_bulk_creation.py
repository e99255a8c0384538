"""Bulk creation: aged accounts signed up together, and members that do not harvest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from decisions.clusters import quiet_cluster
from distillguard import schema as S
from distillguard.accounts import SUBJECT, subject_profiles
from distillguard.decisions.score import MEMBER_PURPOSE, cluster_scores, subject_scores
from distillguard.networks import CLUSTER
from distillguard.networks.cluster import BURST_MEMBERS, _member_features

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def burst_of(created: dict[str, datetime]) -> float:
    """``creation_burst`` of one cluster holding the given accounts (created at those times,
    two requests each on the scan's day)."""
    rows = [
        {S.TIMESTAMP: T0 + timedelta(minutes=k), S.ACCOUNT: a, S.ACCOUNT_CREATED: at}
        for a, at in created.items()
        for k in range(2)
    ]
    profiles = subject_profiles(pl.DataFrame(rows))
    membership = profiles.select(SUBJECT, pl.lit(0, dtype=pl.UInt32).alias(CLUSTER))
    return float(_member_features(profiles, membership)["creation_burst"][0])


def test_aged_accounts_created_in_one_hour_are_a_burst() -> None:
    # Accounts bought in bulk a year ago: not new, created within the same hour.
    signup = T0 - timedelta(days=365)
    ring = {f"a{i}": signup + timedelta(minutes=3 * i) for i in range(8)}
    spread = {f"b{i}": T0 - timedelta(days=30 + 40 * i) for i in range(4)}
    assert burst_of(ring | spread) == pytest.approx(8 / 12)
    assert burst_of(spread) == 0.0
    # Fewer than BURST_MEMBERS in one hour: a coincidence in a large customer base.
    few = dict(list(ring.items())[: BURST_MEMBERS - 1])
    assert burst_of(few | spread) == 0.0
    assert burst_of(dict(list(ring.items())[:BURST_MEMBERS]) | spread) > 0.0


def test_a_member_that_does_not_harvest_inherits_little_of_its_cluster() -> None:
    # A home user behind a ring's residential proxy address, or signed up in the ring's
    # minutes: tied in as tightly as any member, with nothing harvested.
    ring = quiet_cluster(size=30, harvest_share=0.8, member_harvest_share=0.8)
    ring |= {"harvesting_members": 30.0, "template_concentration": 0.5}
    ring |= {"density.payment": 0.8, "density.creation": 0.7, "creation_burst": 0.9}
    clusters = cluster_scores(pl.DataFrame([ring]))
    assert clusters["cluster_score"][0] > 0.5
    members = pl.DataFrame(
        {
            S.ACCOUNT: ["harvester", "bystander", "light", "throwaway"],
            S.ENDUSER: [None, None, None, None],
            CLUSTER: pl.Series([0, 0, 0, 0], dtype=pl.UInt32),
            "attachment": [1.0, 1.0, 1.0, 1.0],
            "events": [40, 40, 40, 40],
            "harvest_share": [0.8, 0.0, MEMBER_PURPOSE / 2, 0.0],
            "new_account": [False, False, False, True],
            "first_hours_events": [0, 0, 0, 40],
            "template_top_share": [0.5, 0.1, 0.1, 0.1],
            "single_turn_share": [0.5, 0.5, 0.5, 0.5],
            "hour_entropy": [0.5, 0.5, 0.5, 0.5],
            "iat_cv": [1.0, 1.0, 1.0, 1.0],
            "active_hours": [10.0, 10.0, 10.0, 10.0],
            "events_per_hour": [4.0, 4.0, 4.0, 4.0],
            "non_vpn_ips": [1, 1, 1, 1],
            "router_user": [False, False, False, False],
        }
    )
    got = {
        r[S.ACCOUNT]: r["coordination"]
        for r in subject_scores(members, clusters).iter_rows(named=True)
    }
    full = clusters["cluster_score"][0]
    assert got["harvester"] == pytest.approx(full)
    assert got["bystander"] == 0.0
    assert got["light"] == pytest.approx(full / 2)
    # New accounts at full rate from their first hours: their purpose is the accounts.
    assert got["throwaway"] > 0.5 * full
