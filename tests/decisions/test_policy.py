"""Policy: precedence of overrides, allowlists, appeals, min events; the append-only log."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from distillguard import schema as S
from distillguard.decisions import (
    Appeal,
    Calibration,
    ConfigError,
    DecisionLogSink,
    Policy,
    SubjectDecision,
    apply_policy,
    file_appeal,
    load_appeals,
    read_decisions,
)
from distillguard.records import AccountDecision, Action, Evidence

CAL = Calibration(
    thresholds={"monitor": 0.2, "review": 0.5, "throttle": 0.7, "downgrade": 0.8, "block": 0.9},
    targets={},
    population_target=0.005,
    benign_subjects=1000,
)


def subjects(**overrides: object) -> pl.DataFrame:
    row = {
        S.ACCOUNT: "acct",
        S.ENDUSER: None,
        "risk": 0.95,
        "events": 500,
        "campaign_id": "C0001",
        "org": "org1",
        "router": None,
    }
    row.update(overrides)
    return pl.DataFrame([row], schema_overrides={S.ENDUSER: pl.Utf8, "router": pl.Utf8})


def decide(policy: Policy, **overrides: object) -> tuple[str, str]:
    out = apply_policy(subjects(**overrides), CAL, policy).row(0, named=True)
    return out["action"], out["rule"]


def test_risk_ladder_without_policy_rules() -> None:
    assert decide(Policy()) == ("block", "risk.block")
    assert decide(Policy(), risk=0.6) == ("review", "risk.review")
    assert decide(Policy(), risk=0.1, campaign_id=None) == ("allow", "risk.allow")


def test_allowlists_beat_risk() -> None:
    assert decide(Policy(allow_accounts=frozenset({"acct"}))) == ("monitor", "allowlist.account")
    assert decide(Policy(allow_orgs=frozenset({"org1"}))) == ("monitor", "allowlist.org")
    assert decide(Policy(allow_evaluators=frozenset({"acct"})))[1] == "allowlist.evaluator"


def test_router_platform_is_not_judged_but_its_end_users_are() -> None:
    policy = Policy(allow_routers=frozenset({"openrouter"}))
    assert decide(policy, router="openrouter") == ("monitor", "allowlist.router")
    assert decide(policy, router="openrouter", **{S.ENDUSER: "u1"}) == ("block", "risk.block")


def test_a_platform_account_is_never_judged_as_one_person() -> None:
    assert decide(Policy(), platform=True) == ("review", "router_platform")
    assert decide(Policy(), platform=False) == ("block", "risk.block")


def test_override_wins_over_everything() -> None:
    from distillguard.decisions import Override

    policy = Policy(
        allow_accounts=frozenset({"acct"}),
        overrides=(Override("acct", Action.THROTTLE, reason="confirmed by analyst"),),
    )
    assert decide(policy) == ("throttle", "override")


def test_open_appeal_caps_at_review_until_resolved() -> None:
    filed = datetime(2026, 3, 2, tzinfo=UTC)
    open_ = Policy(appeals=(Appeal("acct", "we run evals", filed),))
    assert decide(open_) == ("review", "appeal")
    closed = Policy(appeals=(Appeal("acct", "we run evals", filed, resolved=True),))
    assert decide(closed) == ("block", "risk.block")


def test_a_single_request_never_triggers_an_action() -> None:
    assert decide(Policy(), events=1) == ("monitor", "min_events")


def test_fully_attached_campaign_members_go_to_review_hangers_on_do_not() -> None:
    assert decide(Policy(), risk=0.1, attachment=1.0) == ("review", "campaign_member")
    assert decide(Policy(), risk=0.1, attachment=0.6) == ("allow", "risk.allow")
    assert decide(Policy(), risk=0.1, attachment=1.0, campaign_id=None) == ("allow", "risk.allow")
    # policy caps still apply to members: one request never acts
    assert decide(Policy(), risk=0.1, attachment=1.0, events=1) == ("monitor", "min_events")


def test_strong_actions_need_a_campaign() -> None:
    assert decide(Policy(), campaign_id=None) == ("review", "campaign_required")


def test_policy_yaml_is_validated(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "version: p7\nallow:\n  accounts: [a1]\n  routers: [openrouter]\n"
        "overrides:\n  - {account_id: a2, action: block, reason: confirmed}\n"
        "appeals:\n  - {account_id: a3, reason: evals, filed_at: '2026-03-02T00:00:00Z'}\n"
    )
    policy = Policy.load(path)
    assert policy.version == "p7" and policy.allow_accounts == {"a1"}
    assert policy.overrides[0].action is Action.BLOCK and policy.appeals[0].account_id == "a3"
    for bad in (
        "allowlist: {}\n",
        "allow: {people: [x]}\n",
        "min_events: 1\n",
        "overrides: [{account_id: a, action: nuke, reason: r}]\n",
        "overrides: [{account_id: a, action: block}]\n",
        "- a list\n",
        "max_action: x\n",
    ):
        path.write_text(bad)
        with pytest.raises(ConfigError):
            Policy.load(path)


def test_decision_log_is_append_only(tmp_path: Path) -> None:
    log = DecisionLogSink(tmp_path / "decisions.jsonl")
    d = SubjectDecision(
        AccountDecision(
            "acct",
            0.9,
            Action.REVIEW,
            "risk.review",
            "C1",
            (Evidence("content", "90% of its requests ...", 0.9, 1.0),),
        ),
        enduser_id="u1",
    )
    at = datetime(2026, 3, 3, tzinfo=UTC)
    assert log.append([d], decided_at=at, policy_version="p1") == 1
    first = (tmp_path / "decisions.jsonl").read_text()
    log.append([d, d], decided_at=at, policy_version="p2")
    text = (tmp_path / "decisions.jsonl").read_text()
    assert text.startswith(first)
    lines = read_decisions(tmp_path / "decisions.jsonl")
    assert len(lines) == 3
    assert lines[0]["subject"] == {"account_id": "acct", "enduser_id": "u1"}
    assert lines[0]["decided_at"] == at.isoformat() and lines[2]["policy_version"] == "p2"
    assert lines[0]["evidence"][0]["text"].startswith("90%")


def test_appeals_file_last_state_wins(tmp_path: Path) -> None:
    path = tmp_path / "appeals.jsonl"
    filed = datetime(2026, 3, 2, tzinfo=UTC)
    file_appeal(path, Appeal("a", "benchmarking", filed))
    file_appeal(path, Appeal("b", "research", filed))
    file_appeal(path, Appeal("a", "benchmarking", filed, resolved=True))
    state = {x.account_id: x.resolved for x in load_appeals(path)}
    assert state == {"a": True, "b": False}


def test_a_campaign_whose_median_member_crosses_throttle_throttles_every_member() -> None:
    rows = pl.concat(
        [
            subjects(**{S.ACCOUNT: f"a{i}", "risk": r, "attachment": 1.0})
            for i, r in enumerate([0.75, 0.72, 0.55, 0.95])
        ]
        + [subjects(**{S.ACCOUNT: "b", "risk": 0.6, "campaign_id": "C0002", "attachment": 1.0})]
        + [
            subjects(**{S.ACCOUNT: f"c{i}", "risk": 0.6, "campaign_id": "C0003", "attachment": 1.0})
            for i in range(3)
        ]
    )
    out = apply_policy(rows, CAL, Policy())
    got = dict(zip(out[S.ACCOUNT].to_list(), out["action"].to_list(), strict=True))
    # C0001's median member (0.735) is over throttle: the 0.55 member is throttled too,
    # the 0.95 one keeps its own block.
    assert got["a2"] == "throttle" and got["a0"] == "throttle" and got["a3"] == "block"
    assert out.filter(pl.col(S.ACCOUNT) == "a2")["rule"].item() == "campaign_member"
    # A campaign whose median stays below throttle: members stay at review.
    assert got["b"] == "review" and got["c0"] == "review"


def test_a_corroborated_campaign_is_throttled_when_found_an_uncorroborated_one_is_not() -> None:
    def campaign(cid: str, score: float) -> pl.DataFrame:
        return pl.concat(
            [
                subjects(
                    **{S.ACCOUNT: f"{cid}-{i}", "risk": r, "campaign_id": cid},
                    attachment=1.0,
                    cluster_score=score,
                )
                for i, r in enumerate([0.55, 0.6, 0.3])
            ]
        )

    rows = pl.concat([campaign("C0001", 0.4), campaign("C0002", 0.0)])
    out = apply_policy(rows, CAL, Policy())
    got = dict(zip(out[S.ACCOUNT].to_list(), out["action"].to_list(), strict=True))
    # Median member at review (0.55 < throttle 0.7), independent evidence behind it: every
    # member is throttled at once, the fully attached 0.3 one too.
    assert {got[f"C0001-{i}"] for i in range(3)} == {"throttle"}
    # No independent evidence behind the cluster: members are judged at review.
    assert {got[f"C0002-{i}"] for i in range(3)} == {"review"}
    # The old rule on request: wait for the median member to cross throttle.
    late = apply_policy(rows, CAL, Policy(campaign_throttle_from=Action.THROTTLE))
    assert set(late["action"].to_list()) == {"review"}


def test_campaign_throttle_from_is_validated() -> None:
    assert Policy.from_dict({"campaign_throttle_from": "throttle"}).campaign_throttle_from == (
        Action.THROTTLE
    )
    with pytest.raises(ConfigError):
        Policy.from_dict({"campaign_throttle_from": "later"})


def test_a_campaign_held_together_only_by_shared_addresses_is_not_throttled_early() -> None:
    # An eval org on one campus /24: a cluster score from shared addresses alone, no card,
    # timing, split, even load, bulk creation or succession behind it.
    def campaign(cid: str, operator: float) -> pl.DataFrame:
        return pl.concat(
            [
                subjects(
                    **{S.ACCOUNT: f"{cid}-{i}", "risk": r, "campaign_id": cid},
                    attachment=1.0,
                    cluster_score=0.1,
                    operator_evidence=operator,
                )
                for i, r in enumerate([0.55, 0.6, 0.3])
            ]
        )

    out = apply_policy(pl.concat([campaign("C0001", 0.5), campaign("C0002", 0.0)]), CAL, Policy())
    got = dict(zip(out[S.ACCOUNT].to_list(), out["action"].to_list(), strict=True))
    assert {got[f"C0001-{i}"] for i in range(3)} == {"throttle"}
    assert {got[f"C0002-{i}"] for i in range(3)} == {"review"}
