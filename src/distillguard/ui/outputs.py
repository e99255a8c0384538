"""Scan outputs: ``accounts.csv`` and ``campaigns.json`` for machines, ``report.html`` for people.

The column and key contract is documented in ``docs/output.md`` and is stable.
Besides the three outputs, ``report-data/`` keeps what re-rendering the report
needs (timeline, graph edges, summary); it is not part of the stable contract.

Everything in a scan output can be attacker-controlled (account ids, end-user
ids, prompt fragments quoted in evidence): CSV cells are neutralised against
spreadsheet formula injection, HTML is escaped by the template engine.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from distillguard import schema as S
from distillguard.records import Action, Campaign, Evidence

__all__ = [
    "ACCOUNT_COLUMNS",
    "ScanReport",
    "ScanSummary",
    "accounts_frame",
    "campaigns_json",
    "edge_frame",
    "load_scan_report",
    "member_id",
    "rerender_report",
    "timeline_frame",
    "write_scan_outputs",
]

log = logging.getLogger(__name__)

ACCOUNT_COLUMNS = ("account_id", "enduser_id", "risk", "action", "campaign_id", "reasons")
REPORT_DATA = "report-data"
_MAX_REASON = 300
_TIMELINE_MEMBERS = 50  # per campaign; the plot shows the top dozen anyway
_GRAPH_EDGES = 300  # per campaign, strongest first
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_ACTIONS = [a.value for a in Action]


@dataclass(frozen=True)
class ScanSummary:
    events: int
    subjects: int
    first_event: str | None  # ISO 8601 UTC
    last_event: str | None


@dataclass(frozen=True)
class ScanReport:
    """Everything ``render_report`` needs; built from a Detection or from an output dir."""

    summary: ScanSummary
    accounts: pl.DataFrame  # ACCOUNT_COLUMNS
    campaigns: tuple[Campaign, ...]
    timeline: pl.DataFrame  # campaign_id, account, hour (Datetime), requests
    edges: pl.DataFrame  # campaign_id, a, b, weight


def _plain(text: str | None) -> str:
    """Short, one-line, formula-safe text for a CSV cell."""
    if not text:
        return ""
    text = _CONTROL.sub(" ", str(text)).strip()
    if len(text) > _MAX_REASON:
        text = text[: _MAX_REASON - 1] + "…"
    # A cell starting with = + - @ is a formula in spreadsheet tools (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def accounts_frame(subjects: pl.DataFrame) -> pl.DataFrame:
    """The ``accounts.csv`` frame from ``Detection.subjects``: riskiest first."""
    missing = [c for c in (S.ACCOUNT, "risk", "action") if c not in subjects.columns]
    if missing:
        raise ValueError(f"detection subjects lack column(s) {missing}")
    frame = subjects
    for name in (S.ENDUSER, "campaign_id", "reasons"):
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.Utf8).alias(name))
    frame = frame.select(
        pl.col(S.ACCOUNT).cast(pl.Utf8).alias("account_id"),
        pl.col(S.ENDUSER).cast(pl.Utf8).fill_null("").alias("enduser_id"),
        pl.col("risk").cast(pl.Float64).fill_nan(0.0).fill_null(0.0).clip(0.0, 1.0).round(4),
        pl.col("action").cast(pl.Utf8),
        pl.col("campaign_id").cast(pl.Utf8).fill_null("").alias("campaign_id"),
        pl.col("reasons")
        .cast(pl.Utf8)
        .map_elements(_plain, return_dtype=pl.Utf8)
        .fill_null("")
        .alias("reasons"),
    )
    bad = frame.filter(~pl.col("action").is_in(_ACTIONS))["action"].unique().to_list()
    if bad:
        raise ValueError(f"unknown action(s) in detection: {bad}")
    return frame.sort(["risk", "account_id", "enduser_id"], descending=[True, False, False])


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def campaigns_json(campaigns: tuple[Campaign, ...] | list[Campaign]) -> list[dict[str, Any]]:
    return [
        {
            "campaign_id": c.campaign_id,
            "members": list(c.members),
            "score": _finite(c.score),
            "evidence": [
                {
                    "kind": e.kind,
                    "text": e.text,
                    "value": _finite(e.value),
                    "weight": _finite(e.weight),
                }
                for e in c.evidence
            ],
            "features": {k: _finite(v) for k, v in c.features.items()},
        }
        for c in campaigns
    ]


def _campaigns_from_json(data: Any) -> tuple[Campaign, ...]:
    if not isinstance(data, list):
        raise ValueError("campaigns.json: expected a list")
    out = []
    for item in data:
        evidence = tuple(
            Evidence(str(e["kind"]), str(e["text"]), e.get("value"), float(e.get("weight") or 0.0))
            for e in item.get("evidence", [])
        )
        features = {
            str(k): (math.nan if v is None else float(v))
            for k, v in item.get("features", {}).items()
        }
        out.append(
            Campaign(
                campaign_id=str(item["campaign_id"]),
                members=tuple(str(m) for m in item.get("members", [])),
                score=math.nan if item.get("score") is None else float(item["score"]),
                evidence=evidence,
                features=features,
            )
        )
    return tuple(out)


def member_id(account: pl.Expr, enduser: pl.Expr | None) -> pl.Expr:
    """How ``Campaign.members`` name a subject: the account, or ``account/enduser``."""
    account = account.cast(pl.Utf8)
    if enduser is None:
        return account
    return (
        pl.when(enduser.is_null())
        .then(account)
        .otherwise(pl.format("{}/{}", account, enduser.cast(pl.Utf8)))
    )


def _member_column(events: pl.DataFrame) -> pl.Expr:
    enduser = pl.col(S.ENDUSER) if S.ENDUSER in events.columns else None
    return member_id(pl.col(S.ACCOUNT), enduser)


def _campaign_members(campaigns: tuple[Campaign, ...], limit: int | None = None) -> pl.DataFrame:
    """``campaign`` (its position), ``campaign_id``, ``member``: one row per distinct member."""
    return pl.DataFrame(
        [(i, c.campaign_id, m) for i, c in enumerate(campaigns) for m in c.members[:limit]],
        schema={"campaign": pl.Int64, "campaign_id": pl.Utf8, "member": pl.Utf8},
        orient="row",
    ).unique(maintain_order=True)


def _member_accounts(members: pl.DataFrame) -> list[str]:
    """Every account a ``member`` name may hold (a superset; for filtering before naming).

    A member is ``account`` or ``account/enduser`` and ids may hold "/": every prefix that
    ends before a "/" may be the account."""
    names = members.get_column("member").to_list()
    return sorted(
        {m[:i] for m in names for i in (len(m), *(j for j, c in enumerate(m) if c == "/"))}
    )


def timeline_frame(events: pl.DataFrame | None, campaigns: tuple[Campaign, ...]) -> pl.DataFrame:
    """Requests per hour for (up to 50 of) each campaign's members."""
    schema: dict[str, pl.DataType] = {
        "campaign_id": pl.Utf8(),
        "account": pl.Utf8(),
        "hour": pl.Datetime("us", "UTC"),
        "requests": pl.UInt32(),
    }
    if events is None or events.height == 0 or not campaigns:
        return pl.DataFrame(schema=schema)
    members = _campaign_members(campaigns, _TIMELINE_MEMBERS)
    # Rows of the members' accounts first: naming every event's member would build a string
    # per event.
    accounts = _member_accounts(members)
    enduser = [S.ENDUSER] if S.ENDUSER in events.columns else []
    events = events.select(S.TIMESTAMP, S.ACCOUNT, *enduser).filter(
        pl.col(S.ACCOUNT).cast(pl.Utf8).is_in(accounts)
    )
    # Counted once over the events, then given to each campaign the member belongs to.
    counts = (
        events.select(
            _member_column(events).alias("account"),
            pl.col(S.TIMESTAMP).dt.truncate("1h").cast(pl.Datetime("us", "UTC")).alias("hour"),
        )
        .filter(pl.col("account").is_in(members.get_column("member").implode()))
        .group_by("account", "hour")
        .len()
    )
    return (
        members.join(counts, left_on="member", right_on="account")
        .select(
            "campaign_id",
            pl.col("member").alias("account"),
            "hour",
            pl.col("len").cast(pl.UInt32).alias("requests"),
        )
        .sort("campaign_id", "account", "hour")
    )


_ENDPOINTS = (
    ("src", "dst"),
    ("source", "target"),
    ("a", "b"),
    ("u", "v"),
    ("account_a", "account_b"),
    ("left", "right"),
)


def _endpoint(edges: pl.DataFrame, side: str) -> pl.Expr:
    enduser = pl.col(f"{side}_enduser") if f"{side}_enduser" in edges.columns else None
    return member_id(pl.col(f"{side}_account"), enduser)


def edge_frame(edges: pl.DataFrame | None, campaigns: tuple[Campaign, ...]) -> pl.DataFrame:
    """Edges among each campaign's members: ``campaign_id``, ``a``, ``b``, ``weight``."""
    schema = {"campaign_id": pl.Utf8, "a": pl.Utf8, "b": pl.Utf8, "weight": pl.Float64}
    if edges is None or edges.height == 0 or not campaigns:
        return pl.DataFrame(schema=schema)
    if {"src", "dst", "src_account", "dst_account", "weight"} <= set(edges.columns):
        return _indexed_edge_frame(edges, campaigns)
    if {"src_account", "dst_account"} <= set(edges.columns):
        # decisions' edge frame without subject indices: name both ends as Campaign.members
        edges = edges.with_columns(
            _endpoint(edges, "src").alias("_a"), _endpoint(edges, "dst").alias("_b")
        )
        pair: tuple[str, str] | None = ("_a", "_b")
    else:
        pair = next((p for p in _ENDPOINTS if set(p) <= set(edges.columns)), None)
    if pair is None:
        strings = [c for c, t in edges.schema.items() if t == pl.Utf8]
        if len(strings) < 2:
            log.warning("edges frame has no recognisable endpoint columns: %s", edges.columns)
            return pl.DataFrame(schema=schema)
        pair = (strings[0], strings[1])
    weight = next((c for c in ("weight", "w", "score") if c in edges.columns), None)
    base = edges.select(
        pl.col(pair[0]).cast(pl.Utf8).alias("a"),
        pl.col(pair[1]).cast(pl.Utf8).alias("b"),
        (pl.col(weight).cast(pl.Float64) if weight else pl.lit(1.0)).alias("weight"),
    )
    members = _campaign_members(campaigns)
    pairs = (
        base.filter(pl.col("a").is_in(members.get_column("member").implode()))
        .join(members.rename({"member": "a"}), on="a")
        .join(members.select("campaign", pl.col("member").alias("b")), on=["campaign", "b"])
        .group_by("campaign", "campaign_id", "a", "b")
        .agg(pl.col("weight").sum())
    )
    return _strongest(pairs)


def _strongest(pairs: pl.DataFrame) -> pl.DataFrame:
    """Each campaign's ``_GRAPH_EDGES`` heaviest member pairs, in campaign order."""
    return (
        pairs.sort(["campaign", "weight", "a", "b"], descending=[False, True, False, False])
        .filter(pl.int_range(pl.len()).over("campaign") < _GRAPH_EDGES)
        .select("campaign_id", "a", "b", "weight")
    )


def _indexed_edge_frame(edges: pl.DataFrame, campaigns: tuple[Campaign, ...]) -> pl.DataFrame:
    """``edge_frame`` of decisions' edges, which carry subject indices (``src``, ``dst``):
    campaigns are matched and edges summed on the indices, and only the kept edges are named
    (a name per edge end took ~2 GB at 10M events)."""
    # Distinct ends on the streaming engine: the in-memory unique of 21.7M rows peaked ~+1.5 GiB.
    ends = [
        edges.lazy()
        .select(
            pl.col(side).alias("i"),
            pl.col(f"{side}_account").alias("account"),
            (pl.col(f"{side}_enduser") if f"{side}_enduser" in edges.columns else pl.lit(None))
            .cast(pl.Utf8)
            .alias("enduser"),
        )
        .unique()
        .collect(engine="streaming")
        for side in ("src", "dst")
    ]
    names = (
        pl.concat(ends)
        .unique("i")
        .select("i", member_id(pl.col("account"), pl.col("enduser")).alias("member"))
    )
    members = _campaign_members(campaigns).join(names, on="member")
    a = members.select("campaign", pl.col("i").alias("src"))
    b = members.select("campaign", pl.col("i").alias("dst"))
    # One lazy query in edge order (so each weight is summed in one order): run eagerly, the
    # join with the members held +1.3 GiB at 10M events.
    pairs = (
        edges.lazy()
        .select("src", "dst", pl.col("weight").cast(pl.Float64))
        .join(a.lazy(), on="src", maintain_order="left")
        .join(b.lazy(), on=["campaign", "dst"], maintain_order="left")
        .group_by("campaign", "src", "dst")
        .agg(pl.col("weight").sum())
        .collect()
        .join(members.select("campaign", "campaign_id").unique(), on="campaign")
        .join(names.rename({"i": "src", "member": "a"}), on="src")
        .join(names.rename({"i": "dst", "member": "b"}), on="dst")
    )
    return _strongest(pairs)


def _summary(events: pl.DataFrame | None, subjects: int) -> ScanSummary:
    if events is None or events.height == 0 or S.TIMESTAMP not in events.columns:
        return ScanSummary(
            events=0 if events is None else events.height,
            subjects=subjects,
            first_event=None,
            last_event=None,
        )
    first, last = events[S.TIMESTAMP].min(), events[S.TIMESTAMP].max()
    iso = lambda t: t.isoformat() if isinstance(t, datetime) else None  # noqa: E731
    return ScanSummary(events.height, subjects, iso(first), iso(last))


def write_scan_outputs(
    detection: Any, out_dir: Path, *, events: pl.DataFrame | None = None
) -> Path:
    """Write ``accounts.csv``, ``campaigns.json``, ``report.html`` (+ ``report-data/``).

    ``detection`` is a ``distillguard.decisions.Detection`` (``subjects``,
    ``campaigns``, optional ``edges``). ``events`` (the scan's feature frame, or
    any frame with ``timestamp`` and ``distillguard.account.id``) feeds the summary
    and the per-campaign timelines. Returns the report path.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    accounts = accounts_frame(detection.subjects)
    campaigns = tuple(detection.campaigns)
    accounts.write_csv(out_dir / "accounts.csv", float_precision=4)
    (out_dir / "campaigns.json").write_bytes(
        orjson.dumps(campaigns_json(campaigns), option=orjson.OPT_INDENT_2)
    )
    report = ScanReport(
        summary=_summary(events, accounts.height),
        accounts=accounts,
        campaigns=campaigns,
        timeline=timeline_frame(events, campaigns),
        edges=edge_frame(getattr(detection, "edges", None), campaigns),
    )
    data_dir = out_dir / REPORT_DATA
    data_dir.mkdir(exist_ok=True)
    report.timeline.write_parquet(data_dir / "timeline.parquet")
    report.edges.write_parquet(data_dir / "edges.parquet")
    (data_dir / "summary.json").write_bytes(orjson.dumps(asdict(report.summary)))
    return _write_report(report, out_dir)


def _write_report(report: ScanReport, out_dir: Path) -> Path:
    from distillguard.ui.report import render_report

    path = out_dir / "report.html"
    path.write_text(render_report(report), encoding="utf-8")
    return path


def load_scan_report(out_dir: Path) -> ScanReport:
    """Read a previous scan's outputs back (``report-data/`` is optional)."""
    csv = out_dir / "accounts.csv"
    if not csv.is_file():
        raise FileNotFoundError(f"no accounts.csv in {out_dir}: not a scan output directory")
    header = pl.read_csv(csv, n_rows=0).columns
    if tuple(header) != ACCOUNT_COLUMNS:
        raise ValueError(f"{csv}: columns {header}, expected {list(ACCOUNT_COLUMNS)}")
    types = {c: pl.Utf8 for c in ACCOUNT_COLUMNS} | {"risk": pl.Float64}
    accounts = pl.read_csv(csv, schema_overrides=types).with_columns(
        pl.col(c).fill_null("") for c in ("enduser_id", "campaign_id", "reasons")
    )
    campaigns_path = out_dir / "campaigns.json"
    campaigns = (
        _campaigns_from_json(orjson.loads(campaigns_path.read_bytes()))
        if campaigns_path.is_file()
        else ()
    )
    data_dir = out_dir / REPORT_DATA
    timeline = (
        pl.read_parquet(data_dir / "timeline.parquet")
        if (data_dir / "timeline.parquet").is_file()
        else timeline_frame(None, campaigns)
    )
    edges = (
        pl.read_parquet(data_dir / "edges.parquet")
        if (data_dir / "edges.parquet").is_file()
        else edge_frame(None, campaigns)
    )
    summary_path = data_dir / "summary.json"
    if summary_path.is_file():
        raw = orjson.loads(summary_path.read_bytes())
        summary = ScanSummary(
            int(raw["events"]), int(raw["subjects"]), raw.get("first_event"), raw.get("last_event")
        )
    else:
        summary = ScanSummary(0, accounts.height, None, None)
    return ScanReport(summary, accounts, campaigns, timeline, edges)


def rerender_report(out_dir: Path) -> Path:
    """Re-render ``report.html`` from a previous scan's ``--out`` directory."""
    return _write_report(load_scan_report(out_dir), out_dir)
