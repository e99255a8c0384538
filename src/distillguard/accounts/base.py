"""Column names shared by the account, network and decision parts.

The feature frame (``pipeline.feature_frame``) carries the canonical event
columns without text, plus the signal columns named here. Every column except
``timestamp`` and ``distillguard.account.id`` may be missing or null; detection
adds missing ones as nulls (:func:`ensure_columns`).
"""

from __future__ import annotations

import logging

import polars as pl

from distillguard import schema as S

log = logging.getLogger(__name__)

__all__ = [
    "DATASET_ITEM",
    "DATASET_NAME",
    "SIGNALS",
    "SUBJECT",
    "SUBJECT_KEYS",
    "SYSTEM_ID",
    "TEMPLATE_CLUSTER",
    "TEMPLATE_ID",
    "by_subject_index",
    "categorical_as_text",
    "ensure_columns",
    "subject_index",
]

SUBJECT_KEYS = (S.ACCOUNT, S.ENDUSER)
# Dense integer id of a subject, assigned in sorted key order (deterministic, no string joins).
SUBJECT = "subject.idx"

TEMPLATE_ID = "template.id"
TEMPLATE_CLUSTER = "template.cluster"
DATASET_NAME = "dataset.name"
DATASET_ITEM = "dataset.item"
SYSTEM_ID = "system.id"
SIGNALS = ("reasoning", "synthetic", "grader", "rewrite", "jailbreak", "dataset", "params")

OPTIONAL_COLUMNS: dict[str, pl.DataType] = {
    S.ENDUSER: pl.Utf8(),
    S.ORG: pl.Utf8(),
    S.ROUTER: pl.Utf8(),
    S.PAYMENT: pl.Utf8(),
    S.ACCOUNT_CREATED: pl.Datetime("us", "UTC"),
    S.CLIENT_ADDRESS: pl.Utf8(),
    S.TLS_FINGERPRINT: pl.Utf8(),
    S.ASN: pl.Int64(),
    S.AS_ORG: pl.Utf8(),
    S.IP_TYPE: pl.Utf8(),
    S.MODEL: pl.Utf8(),
    S.MAX_TOKENS: pl.Int64(),
    S.TEMPERATURE: pl.Float64(),
    S.TOP_P: pl.Float64(),
    S.REASONING_LEVEL: pl.Utf8(),
    S.OUTPUT_TOKENS: pl.Int64(),
    S.REASONING_TOKENS: pl.Int64(),
    S.INPUT_TOKENS: pl.Int64(),
    S.TURNS: pl.Int64(),
    S.CONVERSATION: pl.Utf8(),
    S.REFUSAL: pl.Boolean(),
    TEMPLATE_CLUSTER: pl.Int64(),
    DATASET_NAME: pl.Utf8(),
    DATASET_ITEM: pl.Utf8(),
    SYSTEM_ID: pl.UInt64(),
    **{f"signal.{name}": pl.Float32() for name in SIGNALS},
}


def categorical_as_text() -> pl.Expr:
    """Every Categorical column as Utf8: for text operations, and joins with text keys.

    The scan's feature frame keeps repeated strings (addresses, fingerprints, conversation
    ids...) as Categorical, and detection keeps them so; apply this after narrowing a frame
    to distinct values, not to every event.
    """
    import polars.selectors as cs

    return cs.categorical().cast(pl.Utf8)


def ensure_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """Keep only the columns detection reads, typed; add missing optional ones as nulls.

    Raises ``ValueError`` naming a missing required column. Other columns (evidence
    strings, request ids...) are dropped: detection never reads them, and carrying
    them through sorts and joins would cost most of its time.
    """
    for name in (S.TIMESTAMP, S.ACCOUNT):
        if name not in frame.columns:
            raise ValueError(f"feature frame lacks required column {name!r}")
    keep = [
        c for c in (S.TIMESTAMP, S.ACCOUNT, S.EVENT_KEY, *OPTIONAL_COLUMNS) if c in frame.columns
    ]
    if SUBJECT in frame.columns:
        keep.append(SUBJECT)
    frame = frame.select(keep)
    missing = [
        pl.lit(None, dtype=dtype).alias(name)
        for name, dtype in OPTIONAL_COLUMNS.items()
        if name not in frame.columns
    ]
    out = frame.with_columns(missing) if missing else frame
    ts = out.schema[S.TIMESTAMP]
    if not isinstance(ts, pl.Datetime) or ts.time_zone != "UTC" or ts.time_unit != "us":
        out = out.with_columns(_as_utc(S.TIMESTAMP, ts))
    created = out.schema[S.ACCOUNT_CREATED]
    if not isinstance(created, pl.Datetime) or created.time_zone != "UTC":
        out = out.with_columns(_as_utc(S.ACCOUNT_CREATED, created))
    # Categorical stands for Utf8 as it is (the scan's frame holds repeated strings that way:
    # as strings again they took ~360 bytes an event, 3.6 GB of a 10M-event scan), except
    # dataset names, joined with text tables of dataset sizes (short: 16 bytes an event).
    casts = {
        name: dtype
        for name, dtype in OPTIONAL_COLUMNS.items()
        if name not in (S.ACCOUNT_CREATED,)
        and out.schema[name] != dtype
        and not (dtype == pl.Utf8 and out.schema[name] == pl.Categorical and name != DATASET_NAME)
    }
    if casts:
        out = out.with_columns(pl.col(n).cast(d, strict=False) for n, d in casts.items())
    out = out.with_columns(pl.col(S.ACCOUNT).cast(pl.Utf8))
    # Rows without a time or an account cannot be attributed in event time; ingest should
    # have quarantined them, so here they are only counted and left out.
    unusable = out.select(
        (pl.col(S.TIMESTAMP).is_null() | pl.col(S.ACCOUNT).is_null()).sum()
    ).item()
    if unusable:
        log.warning("ignoring %d rows without timestamp or account", unusable)
        out = out.filter(pl.col(S.TIMESTAMP).is_not_null() & pl.col(S.ACCOUNT).is_not_null())
    signals = [f"signal.{name}" for name in SIGNALS]
    return out.with_columns(pl.col(signals).fill_nan(None).clip(0.0, 1.0))


def _as_utc(name: str, dtype: pl.DataType) -> pl.Expr:
    col = pl.col(name)
    if isinstance(dtype, pl.Datetime):
        col = col.dt.cast_time_unit("us")
        return (
            col.dt.convert_time_zone("UTC") if dtype.time_zone else col.dt.replace_time_zone("UTC")
        ).alias(name)
    if dtype == pl.Utf8:
        return col.str.to_datetime(time_unit="us", time_zone="UTC", strict=False).alias(name)
    return col.cast(pl.Datetime("us", "UTC"), strict=False).alias(name)


def subject_index(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per subject (account, end user) with its dense ``subject.idx``, sorted by key."""
    return (
        frame.select(SUBJECT_KEYS)
        .unique()
        .sort(SUBJECT_KEYS, nulls_last=False)
        .with_row_index(SUBJECT)
    )


def by_subject_index(values: pl.DataFrame, *subjects: pl.Series) -> pl.DataFrame:
    """``values`` (one row per ``subject.idx``) laid out by index: row ``i`` holds subject
    ``i``'s values, nulls for a subject without any, for every index in ``values`` and in
    ``subjects``. ``column.gather(indices)`` then looks values up for millions of events or
    edges without joining (and copying) them."""
    tops = [s.max() for s in (values.get_column(SUBJECT), *subjects)]
    size = max((t for t in tops if isinstance(t, int)), default=-1) + 1
    return pl.DataFrame({SUBJECT: pl.int_range(size, dtype=pl.UInt32, eager=True)}).join(
        values.with_columns(pl.col(SUBJECT).cast(pl.UInt32)),
        on=SUBJECT,
        how="left",
        maintain_order="left",
    )
