"""Scan outputs: the documented CSV/JSON contract, hostile ids, and re-rendering."""

from __future__ import annotations

import base64
import csv
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree

import polars as pl
import pytest

from distillguard import schema as S
from distillguard.records import Campaign, Evidence
from distillguard.ui import (
    ACCOUNT_COLUMNS,
    load_scan_report,
    render_report,
    rerender_report,
    write_scan_outputs,
)

START = datetime(2026, 3, 1, tzinfo=UTC)
HOSTILE = "<script>alert('x')</script>"


@dataclass(frozen=True)
class FakeDetection:
    subjects: pl.DataFrame
    campaigns: list[Campaign]
    edges: pl.DataFrame = field(default_factory=pl.DataFrame)


def _detection() -> FakeDetection:
    subjects = pl.DataFrame(
        {
            S.ACCOUNT: [HOSTILE, "acct-2", "router-1", "acct-4"],
            S.ENDUSER: [None, None, "u-9", None],
            "risk": [0.987654, 0.5, 0.123456, float("nan")],
            "action": ["block", "review", "monitor", "allow"],
            "campaign_id": ["c1", "c1", None, None],
            "reasons": ["=cmd|' /C calc'!A0 reasons\nsecond line", "shares payment", None, ""],
            "extra_feature": [1.0, 2.0, 3.0, 4.0],
        }
    )
    campaign = Campaign(
        campaign_id="c1",
        members=(HOSTILE, "acct-2"),
        score=0.91,
        evidence=(
            Evidence("shared.payment", f"2 accounts share payment {HOSTILE}", 2.0, 0.6),
            Evidence("template", "one prompt template", None, 0.3),
        ),
        features={"size": 2.0, "density": float("nan")},
    )
    edges = pl.DataFrame(
        {
            "src": [0],
            "dst": [1],
            "src_account": [HOSTILE],
            "src_enduser": [None],
            "dst_account": ["acct-2"],
            "dst_enduser": [None],
            "kind": ["payment"],
            "weight": [2.5],
        },
        schema_overrides={"src_enduser": pl.Utf8, "dst_enduser": pl.Utf8},
    )
    return FakeDetection(subjects, [campaign], edges)


def _events() -> pl.DataFrame:
    rows = [(START + timedelta(minutes=20 * i), HOSTILE if i % 2 else "acct-2") for i in range(12)]
    return pl.DataFrame(
        rows, schema={S.TIMESTAMP: pl.Datetime("us", "UTC"), S.ACCOUNT: pl.Utf8}, orient="row"
    )


def test_accounts_csv_columns_exactly_as_documented(tmp_path: Path) -> None:
    write_scan_outputs(_detection(), tmp_path, events=_events())
    with (tmp_path / "accounts.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == ACCOUNT_COLUMNS
    assert ACCOUNT_COLUMNS == (
        "account_id",
        "enduser_id",
        "risk",
        "action",
        "campaign_id",
        "reasons",
    )
    body = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert len(body) == 4
    assert [r["risk"] for r in body] == ["0.9877", "0.5000", "0.1235", "0.0000"]  # riskiest first
    assert body[0]["account_id"] == HOSTILE  # ids are data, kept verbatim
    assert body[0]["reasons"].startswith("'=")  # formula injection neutralised
    assert "\n" not in body[0]["reasons"]
    router = next(r for r in body if r["account_id"] == "router-1")
    assert router["enduser_id"] == "u-9" and router["campaign_id"] == ""
    assert body[1]["enduser_id"] == ""  # direct account: empty


def test_campaigns_json_contract(tmp_path: Path) -> None:
    write_scan_outputs(_detection(), tmp_path, events=_events())
    data = json.loads((tmp_path / "campaigns.json").read_text())
    assert isinstance(data, list) and len(data) == 1
    c = data[0]
    assert set(c) == {"campaign_id", "members", "score", "evidence", "features"}
    assert c["members"] == [HOSTILE, "acct-2"]
    assert set(c["evidence"][0]) == {"kind", "text", "value", "weight"}
    assert c["features"]["density"] is None  # NaN is not JSON


def test_report_escapes_hostile_ids(tmp_path: Path) -> None:
    path = write_scan_outputs(_detection(), tmp_path, events=_events())
    html = path.read_text()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert html.count("data:image/png;base64,") == 1  # the risk histogram
    # The campaign's timeline and graph, each an SVG image whose labels are escaped too.
    pictures = re.findall(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)", html)
    assert len(pictures) == 2
    for picture in pictures:
        svg = base64.b64decode(picture).decode()
        ElementTree.fromstring(svg)  # well-formed
        assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_rerender_from_output_dir(tmp_path: Path) -> None:
    write_scan_outputs(_detection(), tmp_path, events=_events())
    (tmp_path / "report.html").unlink()
    path = rerender_report(tmp_path)
    html = path.read_text()
    assert "c1" in html and "<script>" not in html
    report = load_scan_report(tmp_path)
    assert report.summary.events == 12
    assert report.campaigns[0].evidence[0].weight == 0.6
    assert math.isnan(report.campaigns[0].features["density"])


def test_rerender_without_report_data_and_bad_dirs(tmp_path: Path) -> None:
    write_scan_outputs(_detection(), tmp_path)
    for f in (tmp_path / "report-data").iterdir():
        f.unlink()
    assert "Campaign" in rerender_report(tmp_path).read_text()
    with pytest.raises(FileNotFoundError):
        rerender_report(tmp_path / "missing")
    (tmp_path / "accounts.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError):
        rerender_report(tmp_path)


def test_empty_detection(tmp_path: Path) -> None:
    empty = FakeDetection(
        pl.DataFrame(
            schema={
                S.ACCOUNT: pl.Utf8,
                S.ENDUSER: pl.Utf8,
                "risk": pl.Float64,
                "action": pl.Utf8,
                "campaign_id": pl.Utf8,
                "reasons": pl.Utf8,
            }
        ),
        [],
    )
    html = write_scan_outputs(empty, tmp_path, events=None).read_text()
    assert "No coordinated campaign found" in html
    assert (tmp_path / "accounts.csv").read_text().strip() == ",".join(ACCOUNT_COLUMNS)


def test_unknown_action_is_rejected(tmp_path: Path) -> None:
    det = _detection()
    bad = FakeDetection(det.subjects.with_columns(pl.lit("nuke").alias("action")), [])
    with pytest.raises(ValueError, match="unknown action"):
        write_scan_outputs(bad, tmp_path)


def test_render_report_is_pure(tmp_path: Path) -> None:
    write_scan_outputs(_detection(), tmp_path, events=_events())
    before = sorted(p.name for p in tmp_path.iterdir())
    html = render_report(load_scan_report(tmp_path))
    assert html.startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
