"""Model pivots: subjects that move their traffic to a newly released model within 24 h.

MiniMax "pivoted within 24 hours" of a release, redirecting nearly half of its
traffic (Anthropic, Feb 2026). One user trying a new model is normal; many
members of one cluster doing it together is a signal (scored per cluster).
Releases come from configuration; without one, a model's first appearance in
the data (after the first hours, with real traffic) is taken as its release.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import polars as pl

from distillguard import schema as S
from distillguard.accounts.base import SUBJECT

__all__ = ["infer_releases", "pivot_features"]

PIVOT_WINDOW = timedelta(hours=24)


def infer_releases(
    frame: pl.DataFrame, *, warmup: timedelta = timedelta(hours=2), min_share: float = 0.005
) -> dict[str, datetime]:
    """Models first seen at least ``warmup`` after the data starts, carrying real traffic."""
    data = frame.select(S.MODEL, S.TIMESTAMP).filter(pl.col(S.MODEL).is_not_null())
    if data.height == 0:
        return {}
    start = frame[S.TIMESTAMP].min()
    firsts = data.group_by(S.MODEL).agg(
        pl.col(S.TIMESTAMP).min().alias("first"), pl.len().alias("n")
    )
    firsts = firsts.filter(
        (pl.col("first") >= pl.lit(start) + warmup) & (pl.col("n") >= min_share * frame.height)
    )
    return dict(zip(firsts[S.MODEL].to_list(), firsts["first"].to_list(), strict=True))


def pivot_features(
    frame: pl.DataFrame,
    releases: Mapping[str, datetime],
    *,
    min_share: float = 0.4,
    min_events: int = 5,
) -> pl.DataFrame:
    """Per subject: ``pivot_hours`` (release to first use, within 24 h) and ``pivoted``.

    A subject pivots when it was active before the release and at least
    ``min_share`` of its requests in the 24 h after it go to the new model.
    """
    schema = {SUBJECT: pl.UInt32, "pivot_hours": pl.Float64, "pivoted": pl.Boolean}
    if not releases:
        return pl.DataFrame(schema=schema)
    parts = []
    for model, at in sorted(releases.items()):
        at_lit = pl.lit(at, dtype=pl.Datetime("us", "UTC"))
        ts = pl.col(S.TIMESTAMP)
        window = (ts >= at_lit) & (ts < at_lit + PIVOT_WINDOW)
        new = window & (pl.col(S.MODEL) == model)
        part = (
            frame.group_by(SUBJECT)
            .agg(
                (ts < at_lit).any().alias("before"),
                window.sum().alias("in_window"),
                new.sum().alias("on_new"),
                ts.filter(new).min().alias("first_new"),
            )
            .with_columns(
                ((pl.col("first_new") - at_lit).dt.total_seconds() / 3600.0).alias("pivot_hours"),
                (
                    pl.col("before")
                    & (pl.col("on_new") >= min_events)
                    & (pl.col("on_new") >= min_share * pl.col("in_window"))
                ).alias("pivoted"),
            )
            .select(SUBJECT, "pivot_hours", "pivoted")
        )
        parts.append(part)
    return (
        pl.concat(parts)
        .group_by(SUBJECT)
        .agg(pl.col("pivot_hours").min(), pl.col("pivoted").any())
        .cast(pl.Schema(schema))
    )
