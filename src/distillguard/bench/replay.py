"""Replay in event time: how much did a campaign harvest before it was contained?

At each cutoff (hourly by default) the detector scores only the events before
the cutoff, as it would have in production. A subject's containment time is
the first cutoff at which its action is throttle, downgrade or block; its flag
time the first cutoff at review or above. A response counts as harvested when
its event arrived before its subject's containment (never contained: all of it).

Closed loop (:func:`replay_closed_loop`): the accounts of a hydra campaign do not
simply stop when contained; the rest of each one's queue moves to a fresh account
created at that cutoff, which the detector then has to find again. With instant
replacement every request is eventually served by someone, so a hydra's share
"served before containment" would be 100% by construction; what the loop measures
is the attacker's cost (:func:`replacements`: accounts burned, and how many requests
each served before it was contained), while harvest keeps meaning the share the
campaign's own accounts were served before containment.

Frames:

- :func:`replay` returns one row per subject seen: ``distillguard.account.id``,
  ``enduser.id``, ``flagged_at`` and ``contained_at`` (UTC Datetime, null = never).
- :func:`harvest` returns one row per campaign: ``campaign_id``, ``accounts``,
  ``events``, ``tokens``, ``share_events_before_containment``,
  ``share_tokens_before_containment``, ``share_events_before_flag``.
- :func:`harvest_curve` returns ``hour``, ``share_served`` (cumulative share of all
  campaign events served before containment, by hour since the first event) and
  ``share_before_flag`` (the same, counting only events before the first flag).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from distillguard import schema as S
from distillguard.bench.detector import SUBJECT_COLUMNS, Detector, SubjectLabels, check_scores
from distillguard.records import Action

__all__ = [
    "CONTAIN_ACTIONS",
    "FLAG_ACTIONS",
    "ClosedLoop",
    "cutoffs",
    "harvest",
    "harvest_curve",
    "replay",
    "replacements",
    "replay_closed_loop",
]

log = logging.getLogger(__name__)

FLAG_ACTIONS = tuple(a.value for a in Action if a.at_least(Action.REVIEW))
CONTAIN_ACTIONS = tuple(a.value for a in Action if a.at_least(Action.THROTTLE))
_SUBJECT = list(SUBJECT_COLUMNS)


def cutoffs(first: datetime, last: datetime, step: timedelta) -> list[datetime]:
    """Cutoffs ``first + k*step`` (k >= 1), the last one strictly after ``last``."""
    if step <= timedelta(0):
        raise ValueError(f"replay step must be positive, not {step}")
    out: list[datetime] = []
    t = first + step
    while True:
        out.append(t)
        if t > last:
            return out
        t += step


def _with_enduser(frame: pl.DataFrame) -> pl.DataFrame:
    if S.ENDUSER not in frame.columns:
        return frame.with_columns(pl.lit(None, dtype=pl.Utf8).alias(S.ENDUSER))
    return frame


def replay(
    detector: Detector, events: pl.DataFrame, *, step: timedelta = timedelta(hours=1)
) -> pl.DataFrame:
    """First flag and containment time per subject, scoring growing prefixes of ``events``."""
    return _replay(detector, events, step, replaceable=set())[0]


@dataclass(frozen=True)
class ClosedLoop:
    """A replay in which a campaign replaces each contained account with a fresh one."""

    times: pl.DataFrame  # as :func:`replay`, successors included
    events: pl.DataFrame  # as served: a contained account's later events under its successor
    labels: SubjectLabels  # successors inherit their predecessor's labels
    successors: pl.DataFrame  # distillguard.account.id (the successor), original_account

    @property
    def replaced(self) -> int:
        return self.successors.height


def replay_closed_loop(
    detector: Detector,
    events: pl.DataFrame,
    labels: SubjectLabels,
    *,
    step: timedelta = timedelta(hours=1),
    strategy: str = "hydra",
) -> ClosedLoop:
    """:func:`replay`, but the direct accounts of campaigns tagged ``strategy`` hand the rest
    of their queue to a new account (created at that cutoff) as soon as they are contained,
    and so on for the successor: the hydra's answer to a ban, decided in the loop."""
    subjects = labels.subjects
    replaceable: set[str] = set()
    if "strategies" in subjects.columns:
        replaceable = set(
            subjects.filter(
                pl.col(S.ENDUSER).is_null()
                & pl.col("strategies").cast(pl.List(pl.Utf8)).list.contains(strategy)
            )[S.ACCOUNT].to_list()
        )
    times, served, pairs = _replay(detector, events, step, replaceable=replaceable)
    successors = pl.DataFrame(
        pairs, schema={S.ACCOUNT: pl.Utf8, "original_account": pl.Utf8}, orient="row"
    )
    if successors.height:
        direct = subjects.filter(pl.col(S.ENDUSER).is_null())
        inherited = successors.join(
            direct.rename({S.ACCOUNT: "original_account"}), on="original_account"
        ).select(subjects.columns)
        labels = SubjectLabels(
            subjects=pl.concat([subjects, inherited], how="vertical_relaxed"), events=labels.events
        )
    return ClosedLoop(times=times, events=served, labels=labels, successors=successors)


def replacements(loop: ClosedLoop) -> pl.DataFrame:
    """Per campaign with replacements: ``replacements`` (accounts burned) and
    ``replacement_median_served`` (median requests a replacement served before it was
    contained; the last ones of the day may never be)."""
    campaigns = loop.labels.subjects.filter(pl.col(S.ENDUSER).is_null()).select(
        S.ACCOUNT, "campaign_id"
    )
    heirs = loop.successors.join(campaigns, on=S.ACCOUNT).select(S.ACCOUNT, "campaign_id")
    schema = {
        "campaign_id": pl.Utf8,
        "replacements": pl.Int64,
        "replacement_median_served": pl.Float64,
    }
    if heirs.height == 0:
        return pl.DataFrame(schema=schema)
    served = loop.events.join(heirs.select(S.ACCOUNT), on=S.ACCOUNT).group_by(S.ACCOUNT).len()
    return (
        heirs.join(served, on=S.ACCOUNT, how="left")
        .group_by("campaign_id")
        .agg(
            pl.len().cast(pl.Int64).alias("replacements"),
            pl.col("len").fill_null(0).median().cast(pl.Float64).alias("replacement_median_served"),
        )
        .sort("campaign_id")
    )


def _hand_on(events: pl.DataFrame, cut: datetime, successor: dict[str, str]) -> pl.DataFrame:
    """Events at or after ``cut`` of the accounts in ``successor`` move to their successor."""
    moved = (pl.col(S.TIMESTAMP) >= cut) & pl.col(S.ACCOUNT).is_in(list(successor))
    columns = [
        pl.when(moved).then(pl.col(S.ACCOUNT).replace(successor)).otherwise(pl.col(S.ACCOUNT))
    ]
    if S.ACCOUNT_CREATED in events.columns:
        columns.append(
            pl.when(moved)
            .then(pl.lit(cut))
            .otherwise(pl.col(S.ACCOUNT_CREATED))
            .cast(events.schema[S.ACCOUNT_CREATED])
            .alias(S.ACCOUNT_CREATED)
        )
    return events.with_columns(columns)


def _replay(
    detector: Detector, events: pl.DataFrame, step: timedelta, *, replaceable: set[str]
) -> tuple[pl.DataFrame, pl.DataFrame, list[tuple[str, str]]]:
    """Containment times, the events as served, and (successor, original account) pairs."""
    events = _with_enduser(events).sort(S.TIMESTAMP, maintain_order=True)
    empty = pl.DataFrame(
        schema={
            S.ACCOUNT: pl.Utf8,
            S.ENDUSER: pl.Utf8,
            "flagged_at": pl.Datetime("us", "UTC"),
            "contained_at": pl.Datetime("us", "UTC"),
        }
    )
    if events.height == 0:
        return empty, events, []
    times = events[S.TIMESTAMP]
    first, last = times.min(), times.max()
    assert isinstance(first, datetime) and isinstance(last, datetime)
    parts: list[pl.DataFrame] = []
    successors: list[tuple[str, str]] = []
    root: dict[str, str] = {}  # successor -> the campaign's original account
    for cut in cutoffs(first, last, step):
        n = int(times.search_sorted(cut, side="left"))
        if n == 0:
            continue
        scores = check_scores(detector.score(events.slice(0, n)), detector.name)
        parts.append(
            scores.select(
                *_SUBJECT,
                pl.when(pl.col("action").is_in(FLAG_ACTIONS)).then(pl.lit(cut)).alias("flagged_at"),
                pl.when(pl.col("action").is_in(CONTAIN_ACTIONS))
                .then(pl.lit(cut))
                .alias("contained_at"),
            )
        )
        if replaceable:
            banned = scores.filter(
                pl.col("action").is_in(CONTAIN_ACTIONS)
                & pl.col(S.ENDUSER).is_null()
                & pl.col(S.ACCOUNT).is_in(list(replaceable))
            )[S.ACCOUNT].to_list()
            successor = {
                a: f"{root.get(a, a)}~{len(successors) + i + 1}" for i, a in enumerate(banned)
            }
            if successor:
                events = _hand_on(events, cut, successor)
                for parent, child in successor.items():
                    root[child] = root.get(parent, parent)
                    successors.append((child, root[child]))
                replaceable.difference_update(successor)
                replaceable.update(successor.values())
    if not parts:
        return empty, events, successors
    times_frame = (
        pl.concat(parts)
        .with_columns(
            pl.col("flagged_at").cast(pl.Datetime("us", "UTC")),
            pl.col("contained_at").cast(pl.Datetime("us", "UTC")),
        )
        .group_by(_SUBJECT)
        .agg(pl.col("flagged_at").min(), pl.col("contained_at").min())
    )
    return times_frame, events, successors


def _served(events: pl.DataFrame, replayed: pl.DataFrame, labels: SubjectLabels) -> pl.DataFrame:
    """Campaign events with ``before_flag`` / ``before_containment`` booleans."""
    campaign_subjects = labels.subjects.filter(pl.col("campaign_id").is_not_null()).select(
        pl.col(S.ACCOUNT), pl.col(S.ENDUSER).fill_null(""), pl.col("campaign_id")
    )
    tokens = (
        pl.col(S.OUTPUT_TOKENS).cast(pl.Float64)
        if S.OUTPUT_TOKENS in events.columns
        else pl.lit(None, dtype=pl.Float64)
    )
    frame = (
        _with_enduser(events)
        .select(
            pl.col(S.TIMESTAMP),
            pl.col(S.ACCOUNT),
            pl.col(S.ENDUSER).fill_null(""),
            tokens.alias("tokens"),
        )
        .join(campaign_subjects, on=_SUBJECT, how="inner")
        .join(replayed.with_columns(pl.col(S.ENDUSER).fill_null("")), on=_SUBJECT, how="left")
    )
    never = pl.lit(True)
    return frame.with_columns(
        pl.when(pl.col("contained_at").is_null())
        .then(never)
        .otherwise(pl.col(S.TIMESTAMP) < pl.col("contained_at"))
        .alias("before_containment"),
        pl.when(pl.col("flagged_at").is_null())
        .then(never)
        .otherwise(pl.col(S.TIMESTAMP) < pl.col("flagged_at"))
        .alias("before_flag"),
    )


def harvest(events: pl.DataFrame, replayed: pl.DataFrame, labels: SubjectLabels) -> pl.DataFrame:
    """Per campaign: share of its responses (events, output tokens) served before containment."""
    served = _served(events, replayed, labels)
    token_total = pl.col("tokens").sum()
    return (
        served.group_by("campaign_id")
        .agg(
            pl.struct(_SUBJECT).n_unique().alias("accounts"),
            pl.len().alias("events"),
            token_total.alias("tokens"),
            pl.col("before_containment").mean().alias("share_events_before_containment"),
            pl.when(token_total > 0)
            .then(pl.col("tokens").filter(pl.col("before_containment")).sum() / token_total)
            .otherwise(None)
            .alias("share_tokens_before_containment"),
            pl.col("before_flag").mean().alias("share_events_before_flag"),
        )
        .sort("campaign_id")
    )


def harvest_curve(
    events: pl.DataFrame, replayed: pl.DataFrame, labels: SubjectLabels
) -> pl.DataFrame:
    """Cumulative share of all campaign events served, by whole hour since the first event."""
    served = _served(events, replayed, labels)
    if served.height == 0:
        return pl.DataFrame(
            schema={"hour": pl.Int64, "share_served": pl.Float64, "share_before_flag": pl.Float64}
        )
    start = events[S.TIMESTAMP].min()
    total = served.height
    return (
        served.with_columns(
            ((pl.col(S.TIMESTAMP) - pl.lit(start)).dt.total_seconds() // 3600)
            .cast(pl.Int64)
            .alias("hour")
        )
        .group_by("hour")
        .agg(pl.col("before_containment").sum().alias("n"), pl.col("before_flag").sum().alias("f"))
        .sort("hour")
        .select(
            pl.col("hour"),
            (pl.col("n").cum_sum() / total).alias("share_served"),
            (pl.col("f").cum_sum() / total).alias("share_before_flag"),
        )
    )
