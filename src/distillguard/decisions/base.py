"""Records the decisions part hands out: per-subject decisions and the detection result.

``AccountDecision`` (``records.py``) has no end-user field: a router's end user
is judged as its own subject, so :class:`SubjectDecision` wraps the account
decision with the ``enduser_id`` (null for direct accounts).

``Detection.subjects`` columns: ``distillguard.account.id``, ``enduser.id``,
``subject.idx``, the profile features (``accounts.PROFILE_COLUMNS``), the score
components (``content``, ``narrow``, ``automation``, ``new_full``, ``rotation``,
``coordination``), ``cluster_score``, ``risk`` (Float64 in [0, 1]), ``action``
(Utf8, an ``Action`` value), ``rule`` (the policy rule that fired),
``campaign_id`` (Utf8 or null) and ``reasons`` (Utf8, plain words).
``Detection.edges``: the edge frame (``networks.base``) with both ends' keys
added (``src_account``, ``src_enduser``, ``dst_account``, ``dst_enduser``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from distillguard.records import AccountDecision, Action, Campaign

__all__ = ["Detection", "SubjectDecision"]


@dataclass(frozen=True)
class SubjectDecision:
    """The decision for one subject: the account decision plus the router end user, if any."""

    decision: AccountDecision
    enduser_id: str | None = None

    @property
    def account_id(self) -> str:
        return self.decision.account_id

    @property
    def action(self) -> Action:
        return self.decision.action

    @property
    def risk(self) -> float:
        return self.decision.risk


@dataclass(frozen=True)
class Detection:
    """What ``detect`` returns (see the module docstring for the frames' columns)."""

    decisions: list[SubjectDecision]
    campaigns: list[Campaign]
    subjects: pl.DataFrame
    edges: pl.DataFrame
    clusters: pl.DataFrame = field(default_factory=pl.DataFrame)
    skipped_keys: pl.DataFrame = field(default_factory=pl.DataFrame)
    decided_at: datetime | None = None  # event time of the data's end, never the wall clock
    calibrated: bool = False

    @property
    def account_decisions(self) -> list[AccountDecision]:
        return [d.decision for d in self.decisions]
