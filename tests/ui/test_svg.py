"""Per-campaign SVG pictures: well-formed, escaped, bounded, deterministic."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import polars as pl

from distillguard.ui.svg import graph_svg, timeline_svg

NS = "{http://www.w3.org/2000/svg}"
START = datetime(2026, 3, 1, tzinfo=UTC)
HOSTILE = "<script>alert('x')</script>&\"$x$"


def _parse(encoded: str) -> ElementTree.Element:
    return ElementTree.fromstring(base64.b64decode(encoded))


def _timeline(members: int, hours: int) -> pl.DataFrame:
    rows = [
        (f"acct-{m}" if m else HOSTILE, START + timedelta(hours=h), m + h + 1)
        for m in range(members)
        for h in range(hours)
    ]
    return pl.DataFrame(
        rows,
        schema={"account": pl.Utf8, "hour": pl.Datetime("us", "UTC"), "requests": pl.UInt32},
        orient="row",
    )


def test_empty_inputs_draw_nothing() -> None:
    assert timeline_svg(_timeline(0, 0)) == ""
    assert graph_svg([]) == ""


def test_timeline_one_line_per_busiest_member_and_escaped_legend() -> None:
    root = _parse(timeline_svg(_timeline(members=20, hours=6)))
    assert root.tag == f"{NS}svg"
    lines = root.findall(f"{NS}polyline")
    assert len(lines) == 12  # the twelve busiest of twenty
    assert all(len(line.get("points", "").split()) == 6 for line in lines)
    labels = [t.text for t in root.findall(f"{NS}text")]
    assert "acct-19" in labels and "acct-1" not in labels  # busiest kept, quietest dropped
    raw = base64.b64decode(timeline_svg(_timeline(members=2, hours=3))).decode()
    assert "<script>" not in raw and "&lt;script&gt;" in raw


def test_timeline_points_stay_inside_the_picture() -> None:
    root = _parse(timeline_svg(_timeline(members=3, hours=48)))
    width, height = float(root.get("width", 0)), float(root.get("height", 0))
    for line in root.findall(f"{NS}polyline"):
        for point in line.get("points", "").split():
            x, y = map(float, point.split(","))
            assert 0 <= x <= width and 0 <= y <= height


def test_single_hour_timeline_is_drawn() -> None:
    root = _parse(timeline_svg(_timeline(members=1, hours=1)))
    assert len(root.findall(f"{NS}polyline")) == 1


def test_graph_colours_members_and_is_deterministic() -> None:
    edges = [("a", "b", 1.0), ("b", "c", 0.5), (HOSTILE, "a", 2.0)]
    first = graph_svg(edges, highlight=["a", HOSTILE])
    assert first == graph_svg(edges, highlight=["a", HOSTILE])
    root = _parse(first)
    assert len(root.findall(f"{NS}line")) == 3
    fills = sorted(c.get("fill", "") for c in root.findall(f"{NS}circle"))
    assert fills == ["crimson", "crimson", "steelblue", "steelblue"]
    assert "<script>" not in base64.b64decode(first).decode()


def test_large_graph_drops_names() -> None:
    edges = [(f"n{i}", f"n{i + 1}", 1.0) for i in range(40)]
    root = _parse(graph_svg(edges))
    assert len(root.findall(f"{NS}circle")) == 41
    assert root.findall(f"{NS}text") == []
