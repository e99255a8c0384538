"""Proxy rotation and throwaway rings: accounts evidence, cluster purpose and size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from decisions.clusters import quiet_cluster
from distillguard import schema as S
from distillguard.accounts import subject_profiles
from distillguard.accounts.profile import new_full_expr, rotation_expr
from distillguard.decisions.evidence import campaign_evidence
from distillguard.decisions.score import cluster_scores

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def requests(account: str, n: int, ip: str, ip_type: str, **extra: object) -> list[dict]:
    """``n`` requests a minute apart; ``ip`` is formatted with the request number."""
    return [
        {
            S.TIMESTAMP: T0 + timedelta(minutes=k),
            S.ACCOUNT: account,
            S.CLIENT_ADDRESS: ip.format(k=k),
            S.IP_TYPE: ip_type,
            **extra,
        }
        for k in range(n)
    ]


def scored(rows: list[dict]) -> dict[str, dict]:
    profiles = subject_profiles(pl.DataFrame(rows, infer_schema_length=None))
    out = profiles.with_columns(
        rotation_expr().alias("rotation"), new_full_expr().alias("new_full")
    )
    return {
        (r[S.ACCOUNT], r[S.ENDUSER]) if r[S.ENDUSER] else r[S.ACCOUNT]: r
        for r in out.iter_rows(named=True)
    }


def test_rotation_counts_addresses_outside_vpn_ranges_only() -> None:
    rows = requests("proxied", 80, "77.1.{k}.9", "residential")  # a new address per request
    rows += requests("vpn", 80, "185.9.{k}.1", "vpn")  # a privacy user hopping VPN exits
    rows += requests("office", 80, "52.0.0.{k}", "datacenter")[:8]  # a cloud egress pool of 8
    rows += requests("home", 80, "81.2.3.4", "residential")
    got = scored(rows)
    assert got["proxied"]["non_vpn_ips"] == 80 and got["proxied"]["rotation"] == 1.0
    assert got["vpn"]["ip_count"] == 80 and got["vpn"]["rotation"] == 0.0
    assert got["office"]["rotation"] == 0.0
    assert got["home"]["rotation"] == 0.0
    # 8 addresses score 0, 64 score 1, on a log scale in between.
    mid = requests("mid", 23, "77.2.{k}.9", "residential")
    assert scored(mid)["mid"]["rotation"] == pytest.approx(0.508, abs=0.01)


def test_router_end_users_never_rotate() -> None:
    # End users come through the platform's egress addresses, however many it has.
    rows = requests("router", 80, "34.0.{k}.1", "datacenter", **{S.ENDUSER: "u1"})
    assert scored(rows)[("router", "u1")]["rotation"] == 0.0


def test_new_account_at_full_rate_scores_and_an_old_one_does_not() -> None:
    created = {S.ACCOUNT_CREATED: T0 - timedelta(minutes=30)}
    rows = requests("first", 5, "81.0.0.1", "residential")  # opens the window
    rows += [
        {**r, S.TIMESTAMP: r[S.TIMESTAMP] + timedelta(hours=2)}
        for r in requests("fresh", 500, "81.0.0.2", "residential")
    ]
    for r in rows[5:]:
        r[S.ACCOUNT_CREATED] = T0 + timedelta(hours=1, minutes=50)
    rows += requests("aged", 500, "81.0.0.3", "residential", **created)
    got = scored(rows)
    assert got["fresh"]["new_full"] > 0.85
    assert got["aged"]["new_full"] == 0.0


def cluster_row(**features: object) -> dict[str, object]:
    """Forty accounts with no evidence and (almost) no harvest, but for ``features``."""
    quiet = {"size": 40, "harvest_share": 0.01, "member_harvest_share": 0.01}
    quiet |= {"harvesting_members": 0.0, "template_concentration": 0.1}
    return quiet_cluster(**(quiet | features))


def test_a_throwaway_ring_has_a_purpose_whatever_it_asks() -> None:
    # Forty new accounts at full rate from their first hours, spread as evenly as a load
    # balancer's: nothing in their requests looks like harvesting, the accounts do.
    ring = cluster_row(load_evenness=1.0, throwaway_share=0.7, throwaway_members=38.0)
    got = cluster_scores(pl.DataFrame([ring])).row(0, named=True)
    assert got["purpose"] == pytest.approx(0.7)
    assert got["cluster_score"] > 0.8
    # The same group of old accounts (an enterprise's batch workers): no purpose, no size.
    office = cluster_row(load_evenness=1.0, throwaway_share=0.0, throwaway_members=0.0)
    assert cluster_scores(pl.DataFrame([office])).row(0, named=True)["cluster_score"] == 0.0
    text = " ".join(e.text for e in campaign_evidence(got, "C1"))
    assert "38 members are new accounts running at full rate" in text


def test_rotation_corroborates_but_is_no_evidence_of_one_operator() -> None:
    # Members sharing a popular phrasing: coincidence unless something else ties them.
    base = cluster_row(harvest_share=0.8, member_harvest_share=0.8, harvesting_members=40.0)
    base |= {"density.template": 0.5, "template_concentration": 0.6}
    plain = cluster_scores(pl.DataFrame([base])).row(0, named=True)
    rotating = cluster_scores(pl.DataFrame([base | {"rotation_share": 0.8}])).row(0, named=True)
    assert plain["coordination"] == 0.0
    assert rotating["coordination"] > 0.8
    # Early containment waits for evidence of one operator (payment, timing, splits...).
    assert rotating["operator_evidence"] == 0.0


def test_repeated_passes_discount_dataset_items_not_jailbreaks() -> None:
    # Twenty accounts re-asking the same small benchmark far more than chance: an eval org's
    # repeated passes, unless the items come wrapped in jailbreaks and reasoning coercion.
    base = cluster_row(size=20, harvesting_members=20.0, load_evenness=1.0)
    base |= {"harvest_share": 0.9, "member_harvest_share": 0.9, "dataset_share": 0.9}
    base |= {"dataset_overlap": 1.0, "template_concentration": 0.8}
    evals = cluster_scores(pl.DataFrame([base])).row(0, named=True)
    assert evals["purpose"] == pytest.approx(0.1 * 0.9)
    wrapped = base | {"elicitation_share": 0.7, "member_elicitation_share": 0.6}
    ring = cluster_scores(pl.DataFrame([wrapped])).row(0, named=True)
    assert ring["purpose"] == pytest.approx(0.6)  # the typical member's elicitation
    # Even load holds both together (coordination 1): the score is sqrt(purpose).
    assert (evals["cluster_score"], ring["cluster_score"]) == pytest.approx((0.3, 0.6**0.5))
