"""Typed records that cross stage boundaries: evidence, decisions, campaigns.

Tabular data between stages travels as Polars/Arrow frames with documented
columns; per-entity results travel as these frozen records. A score never
travels without its evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["Action", "Evidence", "AccountDecision", "Campaign", "QuarantinedRow"]


class Action(StrEnum):
    """Graduated enforcement, weakest first. Order matters: it is the escalation ladder."""

    ALLOW = "allow"
    MONITOR = "monitor"
    REVIEW = "review"
    THROTTLE = "throttle"
    DOWNGRADE = "downgrade"  # visible: reasoning withheld, with an explanation to the caller
    BLOCK = "block"

    @property
    def rank(self) -> int:
        return list(Action).index(self)

    def at_least(self, other: Action) -> bool:
        return self.rank >= other.rank


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence, in plain words with its numbers.

    ``kind`` names the detector or feature that produced it (a stable id),
    ``weight`` its contribution to the score it supports.
    """

    kind: str
    text: str
    value: float | None = None
    weight: float = 0.0


@dataclass(frozen=True)
class AccountDecision:
    account_id: str
    risk: float
    action: Action
    rule: str  # the policy rule that fired
    campaign_id: str | None = None
    evidence: tuple[Evidence, ...] = ()

    @property
    def reasons(self) -> str:
        return "; ".join(e.text for e in self.evidence[:3])


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    members: tuple[str, ...]
    score: float
    evidence: tuple[Evidence, ...] = ()
    features: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class QuarantinedRow:
    """A row that could not become an event, with where it came from and why."""

    source: str
    line: int  # 1-based line (text formats) or row number (tabular formats)
    reason: str  # stable reason code, e.g. "malformed_json", "missing_required"
    detail: str
    raw: str  # the offending input, truncated
