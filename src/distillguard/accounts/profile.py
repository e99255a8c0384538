"""Per-subject behaviour profiles, in event time.

Every feature is a Polars expression over the feature frame grouped by subject
(account, end user). Nothing reads the wall clock: "now" is the data's own last
timestamp, so replaying a log gives the same profile. Most features are ratios
of counts and sums (``PARTIAL_SUMS``), so shards can be merged by adding their
partial aggregates before dividing; the order statistics (inter-arrival CV,
peaks) are recomputed per shard and merged by max, which is what a streaming
engine would keep anyway.

Columns produced (one row per subject): see :data:`PROFILE_COLUMNS`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import polars as pl

from distillguard import schema as S
from distillguard.accounts.base import (
    DATASET_ITEM,
    DATASET_NAME,
    SUBJECT,
    SUBJECT_KEYS,
    TEMPLATE_CLUSTER,
    ensure_columns,
    subject_index,
)

__all__ = [
    "PROFILE_COLUMNS",
    "SIGNAL_THRESHOLD",
    "harvest_expr",
    "elicitation_expr",
    "full_rate_expr",
    "new_full_expr",
    "rotation_expr",
    "subject_profiles",
    "volume_expr",
    "with_subject",
    "with_subject_taken",
]

# A request counts towards a content share when its signal is at least this strong.
SIGNAL_THRESHOLD = 0.5
# "New account at full throughput" (NSA/CISA/FBI advisory, Sep 2026): the first hours after
# creation are compared with the account's whole-window rate.
FIRST_HOURS = 6.0
# Proxy rotation: distinct client addresses outside VPN ranges in the window, from
# ROTATION_FROM (0) to ROTATION_FROM * 2**3 (1). People use a handful (home, office, phone);
# an account behind a residential or datacenter proxy pool gets a new one every few requests.
# VPN exits are left out: privacy users hop between them all day.
ROTATION_FROM = 8.0

PROFILE_COLUMNS = (
    "events",
    "first_ts",
    "last_ts",
    "active_hours",
    "events_per_hour",
    "peak_hour_events",
    "peak_minute_events",
    "output_tokens_per_hour",
    "iat_cv",
    "hour_entropy",
    "single_turn_share",
    "conversation_depth",
    "template_top_share",
    "template_distinct_ratio",
    "top_template",
    "dataset_share",
    "harvest_share",
    "top_dataset",
    "top_dataset_items",
    "top_dataset_coverage",
    "reasoning_share",
    "jailbreak_share",
    "synthetic_share",
    "grader_share",
    "rewrite_share",
    "refusal_rate",
    "params_top_share",
    "max_tokens_cap_share",
    "ip_count",
    "non_vpn_ips",
    "datacenter_share",
    "vpn_share",
    "models",
    "created_at",
    "age_hours_at_first",
    "new_account",
    "first_hours_events",
    "router_user",
)


def with_subject(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with ``subject.idx`` joined in, in canonical order (idempotent), without
    the event key.

    Rows are sorted by subject, time and event key, so that floating-point sums
    (and so every feature) do not depend on the order the log arrived in.
    """
    return with_subject_taken([frame])


def with_subject_taken(holder: list[pl.DataFrame]) -> pl.DataFrame:
    """:func:`with_subject` of the one frame in ``holder``, which is taken out of it.

    The event key only breaks ties in the canonical order, and nothing reads it after:
    it is not carried (0.34 GB at 10M events). The rows are gathered column by column. A
    caller that hands over its only reference (``pipeline.scan``) has each source column
    released once its sorted copy exists, so the sort holds one frame and one column, not
    two frames (+2.1 GiB at the start of detection at 10M events).
    """
    frame = holder.pop()
    if SUBJECT in frame.columns:
        return frame
    frame = ensure_columns(frame)
    # The index looked up on the key columns alone and the rows gathered once: joining the
    # whole frame and sorting the result would hold three copies of it at the peak.
    keys = list(SUBJECT_KEYS)
    idx = (
        frame.select(keys)
        .join(subject_index(frame), on=keys, how="left", nulls_equal=True, maintain_order="left")
        .get_column(SUBJECT)
    )
    order = [S.TIMESTAMP, *([S.EVENT_KEY] if S.EVENT_KEY in frame.columns else [])]
    rows = (
        frame.select(order)
        .with_columns(idx)
        .select(pl.arg_sort_by([SUBJECT, *order], nulls_last=True, maintain_order=True))
        .to_series()
    )
    columns: dict[str, pl.Series] = {}
    for name in frame.columns:
        if name != S.EVENT_KEY:
            columns[name] = frame.get_column(name).gather(rows)
        frame = frame.drop(name)
    columns[SUBJECT] = idx.gather(rows)
    return pl.DataFrame(columns)


def _share(cond: pl.Expr) -> pl.Expr:
    return cond.cast(pl.Float64).mean()


def _signal_share(name: str) -> pl.Expr:
    return _share(pl.col(f"signal.{name}").fill_null(0.0) >= SIGNAL_THRESHOLD).alias(
        f"{name}_share"
    )


def elicitation_expr() -> pl.Expr:
    """A request a content signal fires on (reasoning, jailbreak, synthetic, grader, rewrite)."""
    return pl.any_horizontal(
        pl.col(f"signal.{name}").fill_null(0.0) >= SIGNAL_THRESHOLD
        for name in ("reasoning", "jailbreak", "synthetic", "grader", "rewrite")
    )


def harvest_expr() -> pl.Expr:
    """A request that looks like harvesting: a public-dataset item or any content signal."""
    return pl.col(DATASET_ITEM).is_not_null() | elicitation_expr()


def volume_expr(events: pl.Expr) -> pl.Expr:
    """0 for one request, 1 from a thousand on (log scale)."""
    return (events.cast(pl.Float64).log10() / 3.0).clip(0.0, 1.0)


def full_rate_expr() -> pl.Expr:
    """In [0, 1] over profile columns: a new account running at full rate from its first
    hours (first-hours rate over its whole-window rate), whatever its volume."""
    first_rate = pl.col("first_hours_events") / pl.min_horizontal(
        pl.lit(FIRST_HOURS), pl.col("active_hours").clip(lower_bound=1.0)
    )
    return pl.col("new_account").cast(pl.Float64) * (
        first_rate / pl.col("events_per_hour").clip(lower_bound=1e-9)
    ).clip(0.0, 1.0)


def new_full_expr() -> pl.Expr:
    """:func:`full_rate_expr` scaled by volume: full throughput, not just an even start."""
    return full_rate_expr() * volume_expr(pl.col("events"))


def rotation_expr() -> pl.Expr:
    """In [0, 1] over profile columns: proxy rotation (``ROTATION_FROM``); 0 for router end
    users, whose addresses are the platform's."""
    rotation = ((pl.col("non_vpn_ips").cast(pl.Float64) / ROTATION_FROM).log(2.0) / 3.0).clip(
        0.0, 1.0
    )
    return pl.when(pl.col("router_user")).then(0.0).otherwise(rotation.fill_null(0.0))


def subject_profiles(
    frame: pl.DataFrame, *, dataset_sizes: Mapping[str, int] | None = None
) -> pl.DataFrame:
    """One row per subject: keys, ``subject.idx`` and :data:`PROFILE_COLUMNS`.

    ``dataset_sizes`` (item counts of indexed public datasets) turns distinct
    items into coverage; without it coverage is null.
    """
    frame = with_subject(ensure_columns(frame))
    data_start = pl.lit(frame[S.TIMESTAMP].min(), dtype=pl.Datetime("us", "UTC"))
    ts = pl.col(S.TIMESTAMP)
    epoch_s = ts.dt.epoch("us").cast(pl.Float64) / 1e6
    # The cap per model is the largest max_tokens anyone asked of that model in this data.
    cap = pl.col(S.MAX_TOKENS).max().over(S.MODEL)
    base = frame.with_columns(
        (epoch_s // 3600).cast(pl.Int64).alias("_hour"),
        (epoch_s // 60).cast(pl.Int64).alias("_minute"),
        ts.dt.hour().alias("_hod"),
        ((pl.col(S.MAX_TOKENS) >= cap) & (cap > 0)).fill_null(False).alias("_at_cap"),
        pl.struct(S.MAX_TOKENS, S.TEMPERATURE, S.TOP_P, S.REASONING_LEVEL).hash().alias("_params"),
        (pl.col(S.OUTPUT_TOKENS).fill_null(0) + pl.col(S.REASONING_TOKENS).fill_null(0)).alias(
            "_out_tokens"
        ),
    )
    keys = [SUBJECT, *SUBJECT_KEYS]
    main = base.group_by(keys).agg(
        pl.len().alias("events"),
        ts.min().alias("first_ts"),
        ts.max().alias("last_ts"),
        pl.col("_out_tokens").sum().alias("_out_sum"),
        ts.sort().diff().dt.total_microseconds().cast(pl.Float64).alias("_iat"),
        _share(pl.col(S.TURNS) <= 1).alias("single_turn_share"),
        pl.col(S.CONVERSATION).drop_nulls().n_unique().alias("_conversations"),
        pl.col(S.CONVERSATION).is_not_null().sum().alias("_with_conversation"),
        pl.col(TEMPLATE_CLUSTER).drop_nulls().n_unique().alias("_templates"),
        _share(pl.col(DATASET_ITEM).is_not_null()).alias("dataset_share"),
        _share(harvest_expr()).alias("harvest_share"),
        *(_signal_share(n) for n in ("reasoning", "jailbreak", "synthetic", "grader", "rewrite")),
        pl.col(S.REFUSAL).cast(pl.Float64).mean().alias("refusal_rate"),
        pl.col("_at_cap").cast(pl.Float64).mean().alias("max_tokens_cap_share"),
        pl.col(S.CLIENT_ADDRESS).drop_nulls().n_unique().alias("ip_count"),
        pl.col(S.CLIENT_ADDRESS)
        .filter(pl.col(S.IP_TYPE).fill_null("unknown") != "vpn")
        .drop_nulls()
        .n_unique()
        .alias("non_vpn_ips"),
        _share(pl.col(S.IP_TYPE) == "datacenter").alias("datacenter_share"),
        _share(pl.col(S.IP_TYPE) == "vpn").alias("vpn_share"),
        pl.col(S.MODEL).drop_nulls().n_unique().alias("models"),
        pl.col(S.ACCOUNT_CREATED).min().alias("_created"),
        pl.col(S.ENDUSER).is_not_null().any().alias("router_user"),
    )
    peaks = (
        base.group_by([SUBJECT, "_hour"])
        .agg(pl.len().alias("n"))
        .group_by(SUBJECT)
        .agg(pl.col("n").max().alias("peak_hour_events"))
    )
    minutes = (
        base.group_by([SUBJECT, "_minute"])
        .agg(pl.len().alias("n"))
        .group_by(SUBJECT)
        .agg(pl.col("n").max().alias("peak_minute_events"))
    )
    hod = base.group_by([SUBJECT, "_hod"]).agg(pl.len().alias("n")).sort(SUBJECT, "_hod")
    entropy = hod.group_by(SUBJECT, maintain_order=True).agg(
        (
            -(pl.col("n") / pl.col("n").sum() * (pl.col("n") / pl.col("n").sum()).log()).sum()
            / math.log(24)
        )
        .clip(lower_bound=0.0)
        .alias("hour_entropy")
    )
    templates = _top_share(base, TEMPLATE_CLUSTER, "template", top=3)
    params = _top_share(base, "_params", "params", top=1).select(SUBJECT, "params_top_share")
    datasets = _top_dataset(base, dataset_sizes)
    out = (
        main.join(peaks, on=SUBJECT, how="left")
        .join(minutes, on=SUBJECT, how="left")
        .join(entropy, on=SUBJECT, how="left")
        .join(templates, on=SUBJECT, how="left")
        .join(params, on=SUBJECT, how="left")
        .join(datasets, on=SUBJECT, how="left")
    )
    hours = (pl.col("last_ts") - pl.col("first_ts")).dt.total_seconds() / 3600.0
    created = pl.coalesce(pl.col("_created"), pl.col("first_ts"))
    out = out.with_columns(
        hours.clip(lower_bound=1.0 / 60).alias("active_hours"),
        created.alias("created_at"),
        ((pl.col("first_ts") - created).dt.total_seconds() / 3600.0).alias("age_hours_at_first"),
        # Created inside the window we see (or, without a creation time, first seen well after
        # the window opened): its whole life is in the data.
        pl.when(pl.col("_created").is_not_null())
        .then(pl.col("_created") >= data_start)
        .otherwise((pl.col("first_ts") - data_start).dt.total_seconds() > 3600.0)
        .alias("new_account"),
        (pl.col("_iat").list.std() / pl.col("_iat").list.mean()).fill_nan(None).alias("iat_cv"),
        (pl.col("events") / pl.col("_conversations").clip(lower_bound=1))
        .cast(pl.Float64)
        .alias("conversation_depth")
        .pipe(lambda e: pl.when(pl.col("_with_conversation") > 0).then(e).otherwise(None)),
        (pl.col("_templates") / pl.col("events")).alias("template_distinct_ratio"),
    )
    out = out.with_columns(
        (pl.col("events") / pl.col("active_hours").clip(lower_bound=1.0)).alias("events_per_hour"),
        (pl.col("_out_sum") / pl.col("active_hours").clip(lower_bound=1.0)).alias(
            "output_tokens_per_hour"
        ),
        pl.when(pl.col("iat_cv").is_not_null() & (pl.col("events") >= 3))
        .then(pl.col("iat_cv"))
        .otherwise(None)
        .alias("iat_cv"),
    )
    first_hours = _first_hours(base, out)
    out = out.join(first_hours, on=SUBJECT, how="left").with_columns(
        pl.col("first_hours_events").fill_null(0)
    )
    return out.select(*keys, *PROFILE_COLUMNS).sort(SUBJECT)


def _top_share(base: pl.DataFrame, column: str, name: str, *, top: int) -> pl.DataFrame:
    """Share of a subject's events in its ``top`` most used values of ``column`` (nulls apart)."""
    counts = (
        base.filter(pl.col(column).is_not_null())
        .group_by([SUBJECT, column])
        .agg(pl.len().alias("n"))
        .sort([SUBJECT, "n", column], descending=[False, True, False])
    )
    totals = base.group_by(SUBJECT).agg(pl.len().alias("total"))
    return (
        counts.group_by(SUBJECT, maintain_order=True)
        .agg(pl.col("n").head(top).sum().alias("top_n"), pl.col(column).first().alias("_first"))
        .join(totals, on=SUBJECT)
        .select(
            SUBJECT,
            (pl.col("top_n") / pl.col("total")).alias(f"{name}_top_share"),
            pl.col("_first").alias(f"top_{name}"),
        )
    )


def _top_dataset(base: pl.DataFrame, sizes: Mapping[str, int] | None) -> pl.DataFrame:
    """The public dataset a subject drew most distinct items from, and its coverage."""
    per = (
        base.filter(pl.col(DATASET_ITEM).is_not_null() & pl.col(DATASET_NAME).is_not_null())
        .group_by([SUBJECT, DATASET_NAME])
        .agg(pl.col(DATASET_ITEM).n_unique().alias("items"))
        .sort([SUBJECT, "items", DATASET_NAME], descending=[False, True, False])
        .group_by(SUBJECT, maintain_order=True)
        .first()
    )
    size_frame = pl.DataFrame(
        {DATASET_NAME: list((sizes or {}).keys()), "_size": list((sizes or {}).values())},
        schema={DATASET_NAME: pl.Utf8, "_size": pl.Int64},
    )
    return per.join(size_frame, on=DATASET_NAME, how="left").select(
        SUBJECT,
        pl.col(DATASET_NAME).alias("top_dataset"),
        pl.col("items").alias("top_dataset_items"),
        (pl.col("items") / pl.col("_size")).clip(upper_bound=1.0).alias("top_dataset_coverage"),
    )


def _first_hours(base: pl.DataFrame, profiles: pl.DataFrame) -> pl.DataFrame:
    created = profiles.select(SUBJECT, "created_at")
    return (
        base.select(SUBJECT, S.TIMESTAMP)
        .join(created, on=SUBJECT)
        .filter(
            (pl.col(S.TIMESTAMP) - pl.col("created_at")).dt.total_seconds() < FIRST_HOURS * 3600.0
        )
        .group_by(SUBJECT)
        .agg(pl.len().alias("first_hours_events"))
    )
