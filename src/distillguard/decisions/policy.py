"""Graduated actions: allowlists, analyst overrides, appeals, and the risk ladder.

allow → monitor → review → throttle → downgrade → block. The policy is a YAML
file validated on load (unknown key = error). Order of precedence, strongest
first (the ``rule`` column names which one decided):

1. ``override``: an analyst's explicit action for a subject.
2. ``allowlist.*``: allowlisted accounts, orgs, known evaluators, and router
   platform accounts (a router carries many people; its end users are judged
   one by one instead) — capped at ``monitor``.
3. ``appeal``: an open appeal caps the subject at ``review`` (a human looks
   before anything stronger happens again).
4. ``router_platform``: a router's platform account (its own traffic, with no end
   user named) carries many people and is never judged as one: at most ``review``.
5. ``min_events``: a single request never triggers an action; fewer than
   ``min_events`` requests cap at ``monitor``.
6. ``campaign_required``: throttle and above need the subject to belong to a
   campaign (coordinated evidence), else ``review``.
7. ``campaign_member``: a fully attached member (attachment 1: tied in, kind by kind, at
   least a quarter as strongly as the campaign's mean member) of a campaign
   goes to ``review`` at least: the campaign is judged as a whole (SynchroTrap,
   CCS 2014), and a human looks at the members the risk alone left below review.
   Every member of a campaign whose median member risk crosses the calibrated throttle
   threshold goes to ``throttle`` at least (downgrade and block stay individual); so does
   every member of a corroborated campaign (cluster score > 0, with independent evidence of
   one operator other than shared addresses: a campus /24 is no such evidence) once its
   median member crosses ``campaign_throttle_from`` (default review): a ring is contained
   when it is found, not after it has served half its harvest.
8. ``risk.<action>``: the calibrated threshold the risk crossed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from distillguard import schema as S
from distillguard.decisions.calibrate import Calibration
from distillguard.decisions.config import ConfigError, _as_time
from distillguard.decisions.score import CLUSTER_SCORE, OPERATOR_EVIDENCE
from distillguard.records import Action

__all__ = ["Appeal", "Override", "Policy", "apply_policy"]

_ACTIONS = [a.value for a in Action]


@dataclass(frozen=True)
class Override:
    account_id: str
    action: Action
    reason: str
    enduser_id: str | None = None
    analyst: str = ""


@dataclass(frozen=True)
class Appeal:
    """An appeal with its reason; while unresolved the subject goes to human review at most."""

    account_id: str
    reason: str
    filed_at: datetime
    enduser_id: str | None = None
    resolved: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "enduser_id": self.enduser_id,
            "reason": self.reason,
            "filed_at": self.filed_at.isoformat(),
            "resolved": self.resolved,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], where: str = "appeal") -> Appeal:
        _check(raw, {"account_id", "enduser_id", "reason", "filed_at", "resolved"}, where)
        for key in ("account_id", "reason", "filed_at"):
            if key not in raw:
                raise ConfigError(f"{where}: missing {key!r}")
        return cls(
            account_id=str(raw["account_id"]),
            enduser_id=None if raw.get("enduser_id") is None else str(raw["enduser_id"]),
            reason=str(raw["reason"]),
            filed_at=_as_time(raw["filed_at"], f"{where}.filed_at"),
            resolved=bool(raw.get("resolved", False)),
        )


@dataclass(frozen=True)
class Policy:
    version: str = "default-1"
    allow_accounts: frozenset[str] = frozenset()
    allow_orgs: frozenset[str] = frozenset()
    allow_evaluators: frozenset[str] = frozenset()
    allow_routers: frozenset[str] = frozenset()
    overrides: tuple[Override, ...] = ()
    appeals: tuple[Appeal, ...] = ()
    min_events: int = 3
    campaign_required_above: Action = Action.REVIEW
    campaign_throttle_from: Action = Action.REVIEW
    max_action: Action = Action.BLOCK

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, source: str = "policy") -> Policy:
        _check(raw, {"version", "allow", "overrides", "appeals", "min_events",
                     "campaign_required_above", "campaign_throttle_from", "max_action"},
               source)  # fmt: skip
        allow = raw.get("allow") or {}
        _check(allow, {"accounts", "orgs", "evaluators", "routers"}, f"{source}: allow")
        overrides = []
        for i, o in enumerate(raw.get("overrides") or []):
            where = f"{source}: overrides[{i}]"
            _check(o, {"account_id", "enduser_id", "action", "reason", "analyst"}, where)
            if "account_id" not in o or "action" not in o or not o.get("reason"):
                raise ConfigError(f"{where}: needs account_id, action and a reason")
            overrides.append(
                Override(
                    account_id=str(o["account_id"]),
                    enduser_id=None if o.get("enduser_id") is None else str(o["enduser_id"]),
                    action=_action(o["action"], f"{where}.action"),
                    reason=str(o["reason"]),
                    analyst=str(o.get("analyst", "")),
                )
            )
        appeals = tuple(
            Appeal.from_dict(a, f"{source}: appeals[{i}]")
            for i, a in enumerate(raw.get("appeals") or [])
        )
        min_events = raw.get("min_events", 3)
        if isinstance(min_events, bool) or not isinstance(min_events, int) or min_events < 2:
            raise ConfigError(f"{source}: min_events must be an integer >= 2")
        return cls(
            version=str(raw.get("version", "default-1")),
            allow_accounts=_names(allow.get("accounts"), f"{source}: allow.accounts"),
            allow_orgs=_names(allow.get("orgs"), f"{source}: allow.orgs"),
            allow_evaluators=_names(allow.get("evaluators"), f"{source}: allow.evaluators"),
            allow_routers=_names(allow.get("routers"), f"{source}: allow.routers"),
            overrides=tuple(overrides),
            appeals=appeals,
            min_events=min_events,
            campaign_required_above=_action(
                raw.get("campaign_required_above", "review"), f"{source}: campaign_required_above"
            ),
            campaign_throttle_from=_action(
                raw.get("campaign_throttle_from", "review"), f"{source}: campaign_throttle_from"
            ),
            max_action=_action(raw.get("max_action", "block"), f"{source}: max_action"),
        )

    @classmethod
    def load(cls, path: Path) -> Policy:
        import yaml

        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not YAML: {exc}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping")
        return cls.from_dict(raw, source=str(path))


def _check(raw: Any, allowed: set[str], where: str) -> None:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping")
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def _names(value: Any, where: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise ConfigError(f"{where}: expected a list of ids")
    return frozenset(str(v) for v in value)


def _action(value: Any, where: str) -> Action:
    if value not in _ACTIONS:
        raise ConfigError(f"{where}: {value!r} not one of {_ACTIONS}")
    return Action(value)


def _rank(action: pl.Expr) -> pl.Expr:
    return action.replace_strict(_ACTIONS, list(range(len(_ACTIONS))), return_dtype=pl.Int8)


def _cap(
    action: pl.Expr, rule: pl.Expr, cond: pl.Expr, cap: Action, name: str
) -> tuple[pl.Expr, pl.Expr]:
    over = cond & (_rank(action) > cap.rank)
    return (
        pl.when(over).then(pl.lit(cap.value)).otherwise(action),
        pl.when(over).then(pl.lit(name)).otherwise(rule),
    )


def apply_policy(subjects: pl.DataFrame, calibration: Calibration, policy: Policy) -> pl.DataFrame:
    """Add ``action`` and ``rule`` to a subject frame.

    Needs ``distillguard.account.id``, ``enduser.id``, ``risk``, ``events``,
    ``campaign_id``, and optionally ``org`` and ``router`` (most used values).
    """
    ladder = [a for a in Action if a.value in calibration.thresholds]
    action: pl.Expr = pl.lit(Action.ALLOW.value)
    rule: pl.Expr = pl.lit("risk.allow")
    for a in ladder:
        hit = pl.col("risk") >= calibration.thresholds[a.value]
        action = pl.when(hit).then(pl.lit(a.value)).otherwise(action)
        rule = pl.when(hit).then(pl.lit(f"risk.{a.value}")).otherwise(rule)
    frame = subjects.with_columns(action.alias("action"), rule.alias("rule"))
    act, rl = pl.col("action"), pl.col("rule")
    attachment = (
        pl.col("attachment").fill_null(0.0) if "attachment" in frame.columns else pl.lit(1.0)
    )
    member = (
        pl.col("campaign_id").is_not_null()
        & (attachment >= 1.0)
        & (_rank(act) < Action.REVIEW.rank)
    )
    frame = frame.with_columns(
        pl.when(member).then(pl.lit(Action.REVIEW.value)).otherwise(act).alias("action"),
        pl.when(member).then(pl.lit("campaign_member")).otherwise(rl).alias("rule"),
    )
    throttle = calibration.thresholds.get(Action.THROTTLE.value)
    if throttle is not None:
        # The campaign is judged as a whole: once its median member's risk crosses the
        # calibrated throttle threshold, every member is throttled (not more: downgrade and
        # block stay individual), so a ring is not contained account by account. A
        # corroborated campaign (independent evidence of one operator behind its cluster
        # score) is throttled from ``campaign_throttle_from`` on: a hydra's first four
        # accounts reach review within two hours and throttle only after five more.
        median = pl.col("risk").median().over("campaign_id")
        early = calibration.thresholds.get(policy.campaign_throttle_from.value, throttle)
        corroborated = (
            pl.col(CLUSTER_SCORE).fill_null(0.0) > 0.0
            if CLUSTER_SCORE in frame.columns
            else pl.lit(False)
        )
        if OPERATOR_EVIDENCE in frame.columns:
            # A shared /24 alone (a campus, an eval org's office) does not throttle early.
            corroborated = corroborated & (pl.col(OPERATOR_EVIDENCE).fill_null(0.0) > 0.0)
        escalate = (
            pl.col("campaign_id").is_not_null()
            & ((median >= throttle) | (corroborated & (median >= early)))
            & (_rank(act) < Action.THROTTLE.rank)
        )
        frame = frame.with_columns(
            pl.when(escalate).then(pl.lit(Action.THROTTLE.value)).otherwise(act).alias("action"),
            pl.when(escalate).then(pl.lit("campaign_member")).otherwise(rl).alias("rule"),
        )
    org = pl.col("org") if "org" in frame.columns else pl.lit(None, dtype=pl.Utf8)
    router = pl.col("router") if "router" in frame.columns else pl.lit(None, dtype=pl.Utf8)
    direct = pl.col(S.ENDUSER).is_null()
    steps = [
        (pl.col("campaign_id").is_null(), policy.campaign_required_above, "campaign_required"),
        (pl.col("events") < policy.min_events, Action.MONITOR, "min_events"),
        (
            pl.col("platform").fill_null(False) if "platform" in frame.columns else pl.lit(False),
            Action.REVIEW,
            "router_platform",
        ),
        (pl.lit(True), policy.max_action, "max_action"),
    ]
    for cond, cap, name in steps:
        a2, r2 = _cap(act, rl, cond, cap, name)
        frame = frame.with_columns(a2.alias("action"), r2.alias("rule"))
    open_appeals = {(a.account_id, a.enduser_id) for a in policy.appeals if not a.resolved}
    if open_appeals:
        appealed = _subject_in(open_appeals)
        a2, r2 = _cap(act, rl, appealed, Action.REVIEW, "appeal")
        frame = frame.with_columns(a2.alias("action"), r2.alias("rule"))
    allow = [
        (pl.col(S.ACCOUNT).is_in(list(policy.allow_accounts)), "allowlist.account"),
        (org.is_in(list(policy.allow_orgs)), "allowlist.org"),
        (pl.col(S.ACCOUNT).is_in(list(policy.allow_evaluators)), "allowlist.evaluator"),
        (
            direct
            & (
                router.is_in(list(policy.allow_routers))
                | pl.col(S.ACCOUNT).is_in(list(policy.allow_routers))
            ),
            "allowlist.router",
        ),
    ]
    for cond, name in allow:
        a2, r2 = _cap(act, rl, cond.fill_null(False), Action.MONITOR, name)
        frame = frame.with_columns(a2.alias("action"), r2.alias("rule"))
    for o in policy.overrides:
        cond = _subject_in({(o.account_id, o.enduser_id)})
        frame = frame.with_columns(
            pl.when(cond).then(pl.lit(o.action.value)).otherwise(act).alias("action"),
            pl.when(cond).then(pl.lit("override")).otherwise(rl).alias("rule"),
        )
    return frame


def _subject_in(keys: set[tuple[str, str | None]]) -> pl.Expr:
    cond = pl.lit(False)
    for account, enduser in sorted(keys, key=lambda k: (k[0], k[1] or "")):
        eu = pl.col(S.ENDUSER).is_null() if enduser is None else pl.col(S.ENDUSER) == enduser
        cond = cond | ((pl.col(S.ACCOUNT) == account) & eu).fill_null(False)
    return cond
