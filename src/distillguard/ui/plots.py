"""Plots as base64 PNG strings, for embedding in self-contained HTML reports.

Uses ``matplotlib.figure.Figure`` directly (no pyplot): no global state, no GUI
backend, safe in threads. Every function returns ``""`` when there is nothing
to draw, and templates skip empty images.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import polars as pl

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "harvest_png",
    "risk_histogram_png",
    "roc_png",
    "score_distribution_png",
]


def _figure(width: float = 6.4, height: float = 3.6) -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return fig, fig.add_subplot()


def _encode(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _label(text: str, limit: int = 40) -> str:
    # Ids are hostile input: matplotlib treats $...$ as mathtext, so strip dollar signs.
    text = str(text).replace("$", "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def roc_png(curves: Mapping[str, tuple[npt.ArrayLike, npt.ArrayLike]]) -> str:
    """ROC curves: name -> (fpr, tpr). Log-scaled FPR axis, where the useful range is."""
    if not curves:
        return ""
    fig, ax = _figure()
    for name, (fpr, tpr) in curves.items():
        x = np.clip(np.asarray(fpr, dtype=float), 1e-4, 1.0)
        ax.step(x, np.asarray(tpr, dtype=float), where="post", label=_label(name))
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("false positive rate (subjects, log scale)")
    ax.set_ylabel("true positive rate")
    ax.legend(loc="lower right", fontsize=8)
    return _encode(fig)


def score_distribution_png(
    scores: Mapping[str, npt.ArrayLike], title: str = "", threshold: float | None = None
) -> str:
    """Box plot of scores per population (benign populations and attacks)."""
    items = [(k, np.asarray(v, dtype=float)) for k, v in scores.items() if np.size(v)]
    if not items:
        return ""
    fig, ax = _figure(6.4, 0.35 * len(items) + 1.2)
    ax.boxplot([v for _, v in items], orientation="horizontal", showfliers=True, widths=0.6)
    ax.set_yticks(range(1, len(items) + 1), [_label(k, 24) for k, _ in items], fontsize=8)
    if threshold is not None and np.isfinite(threshold):
        ax.axvline(threshold, color="crimson", linestyle="--", linewidth=1, label="lowest flagged")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("risk score")
    if title:
        ax.set_title(_label(title, 60), fontsize=10)
    return _encode(fig)


def harvest_png(curves: Mapping[str, pl.DataFrame]) -> str:
    """Cumulative share of campaign events served, by hour: one colour per detector.

    Solid: served before containment (throttle or stronger). Dashed, where the
    frame has ``share_before_flag``: served before the first flag (review).
    """
    curves = {k: v for k, v in curves.items() if v.height}
    if not curves:
        return ""
    fig, ax = _figure()
    for name, frame in curves.items():
        hours = frame["hour"].to_numpy()
        line = ax.step(
            hours,
            frame["share_served"].to_numpy(),
            where="post",
            label=f"{_label(name)} (contained)",
        )
        if "share_before_flag" in frame.columns:
            ax.step(
                hours,
                frame["share_before_flag"].to_numpy(),
                where="post",
                linestyle="--",
                color=line[0].get_color(),
                label=f"{_label(name)} (flagged)",
            )
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("hours since first event")
    ax.set_ylabel("share of campaign responses served")
    ax.legend(loc="upper left", fontsize=8)
    return _encode(fig)


def risk_histogram_png(risks: npt.ArrayLike) -> str:
    r = np.asarray(risks, dtype=float)
    if r.size == 0:
        return ""
    fig, ax = _figure(6.4, 3.0)
    ax.hist(r, bins=np.linspace(0.0, 1.0, 41).tolist(), color="steelblue")
    ax.set_yscale("log")
    ax.set_xlabel("risk")
    ax.set_ylabel("subjects (log scale)")
    return _encode(fig)
