"""``report.html`` for a person: summary, risk distribution, one section per campaign.

Rendering is pure (``render_report`` returns a string); ``outputs`` writes files.
Templates autoescape everything: account ids, end-user ids and evidence text
are attacker-controlled and must never become markup.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from distillguard.records import Action

if TYPE_CHECKING:
    import jinja2

    from distillguard.ui.outputs import ScanReport

__all__ = ["environment", "render_report"]

_TOP_SUBJECTS = 100  # flagged subjects listed in the report; the CSV has them all
_MEMBERS_SHOWN = 200


def environment() -> jinja2.Environment:
    """The shared Jinja environment: package templates, autoescape always on."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("distillguard.ui", "templates"),
        autoescape=True,  # every template, whatever its file name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _num
    return env


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{float(value):.{digits}f}"


@dataclass(frozen=True)
class _CampaignView:
    campaign_id: str
    score: float
    members: tuple[str, ...]
    members_hidden: int
    evidence: tuple[Any, ...]
    features: tuple[tuple[str, float], ...]
    actions: tuple[tuple[str, int], ...]
    timeline_svg: str
    graph_svg: str


def _campaign_views(report: ScanReport) -> list[_CampaignView]:
    from distillguard.ui.svg import graph_svg, timeline_svg

    views = []
    for c in sorted(report.campaigns, key=lambda c: (-_finite(c.score), c.campaign_id)):
        timeline = report.timeline.filter(pl.col("campaign_id") == c.campaign_id)
        edges = report.edges.filter(pl.col("campaign_id") == c.campaign_id)
        actions = (
            report.accounts.filter(pl.col("campaign_id") == c.campaign_id)
            .group_by("action")
            .len()
            .to_dicts()
        )
        order = {a.value: a.rank for a in Action}
        views.append(
            _CampaignView(
                campaign_id=c.campaign_id,
                score=c.score,
                members=c.members[:_MEMBERS_SHOWN],
                members_hidden=max(0, len(c.members) - _MEMBERS_SHOWN),
                evidence=tuple(sorted(c.evidence, key=lambda e: -e.weight)),
                features=tuple(sorted(c.features.items())),
                actions=tuple(
                    (r["action"], int(r["len"]))
                    for r in sorted(actions, key=lambda r: -order.get(r["action"], 0))
                ),
                timeline_svg=timeline_svg(timeline),
                graph_svg=graph_svg(
                    [(r["a"], r["b"], float(r["weight"])) for r in edges.iter_rows(named=True)],
                    highlight=c.members,
                ),
            )
        )
    return views


def _finite(x: float) -> float:
    return x if math.isfinite(x) else -math.inf


def render_report(report: ScanReport) -> str:
    """The scan report as one self-contained HTML page (plots embedded as PNG)."""
    from distillguard.ui.plots import risk_histogram_png

    accounts = report.accounts
    counts = dict(accounts.group_by("action").len().iter_rows())
    action_counts = [(a.value, int(counts.get(a.value, 0))) for a in Action]
    flagged = accounts.filter(
        pl.col("action").is_in([a.value for a in Action if a.at_least(Action.REVIEW)])
    )
    return (
        environment()
        .get_template("scan_report.html.j2")
        .render(
            summary=report.summary,
            action_counts=action_counts,
            flagged_total=flagged.height,
            flagged=flagged.head(_TOP_SUBJECTS).to_dicts(),
            risk_png=risk_histogram_png(accounts["risk"].to_numpy()),
            campaigns=_campaign_views(report),
        )
    )
