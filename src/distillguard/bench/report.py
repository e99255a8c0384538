"""Bench report rendering: ``report.md`` (with PNGs in ``plots/``) and ``report.html``.

Rendering is pure (``render_markdown`` / ``render_html`` return strings);
``write_bench_report`` writes the files.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from distillguard.bench import metrics as M
from distillguard.bench.results import BenchResult, DetectorResult

__all__ = ["BenchPlots", "make_plots", "render_html", "render_markdown", "write_bench_report"]


@dataclass(frozen=True)
class BenchPlots:
    """Base64 PNGs: ROC, harvest, and one score-distribution plot per detector."""

    roc: str
    harvest: str
    distributions: dict[str, str]


def make_plots(
    result: BenchResult,
    scored: Mapping[str, pl.DataFrame],
    curves: Mapping[str, pl.DataFrame],
) -> BenchPlots:
    from distillguard.ui.plots import harvest_png, roc_png, score_distribution_png

    roc = {
        name: M.roc_curve(frame["is_attack"].to_numpy(), frame["risk"].to_numpy())
        for name, frame in scored.items()
    }
    # average the per-seed curves hour by hour
    mean_curves = {
        name: frame.group_by("hour")
        .agg(pl.col("share_served").mean(), pl.col("share_before_flag").mean())
        .sort("hour")
        for name, frame in curves.items()
    }
    distributions = {}
    for d in result.detectors:
        frame = scored.get(d.name)
        if frame is None:
            continue
        groups = {
            str(pop): frame.filter(pl.col("population") == pop)["risk"].to_numpy()
            for pop in sorted(frame["population"].unique().to_list())
        }
        threshold = _threshold(frame)
        distributions[d.name] = score_distribution_png(groups, title=d.name, threshold=threshold)
    return BenchPlots(
        roc=roc_png(roc), harvest=harvest_png(mean_curves), distributions=distributions
    )


def _threshold(frame: pl.DataFrame) -> float | None:
    """The lowest flagged score: the effective threshold on this data."""
    flagged = frame.filter(pl.col("action") != "allow").filter(pl.col("action") != "monitor")
    return float(flagged["risk"].min()) if flagged.height else None  # type: ignore[arg-type]


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{100 * x:.1f}%"


def _est(e: M.Estimate, digits: int = 3) -> str:
    return e.text(digits)


def _main_rows(result: BenchResult) -> list[list[str]]:
    return [
        [
            d.name,
            _est(d.precision),
            _est(d.recall),
            _est(d.fpr, 4),
            _est(d.fpr_replay, 4) if d.fpr_replay else "n/a",
            _est(d.auroc),
            _est(d.auprc),
            _est(d.campaign_recall, 2),
            _pct(d.harvest_median_events),
            _pct(d.harvest_median_tokens),
            _pct(d.harvest_median_before_flag),
            f"{d.cost.events_per_second:,.0f}",
            _mib(d.cost.fit_peak_rss_mib, 0),
        ]
        for d in result.detectors
    ]


MAIN_HEADER = [
    "detector",
    "precision",
    "recall",
    "FPR",
    "FPR at any replay cutoff",
    "AUROC",
    "AUPRC",
    "campaign recall",
    "harvest before containment (events, median)",
    "(tokens, median)",
    "harvest before first flag (median)",
    "events/s",
    "fit peak RSS MiB",
]


def _population_table(result: BenchResult, attr: str) -> tuple[list[str], list[list[str]]]:
    pops = sorted({p for d in result.detectors for p in getattr(d, attr)})
    rows = []
    for pop in pops:
        row = [pop]
        n = 0
        for d in result.detectors:
            e: M.Estimate | None = getattr(d, attr).get(pop)
            row.append(_est(e, 4) if e else "")
            n = max(n, e.n if e else 0)
        rows.append([*row, str(n)])
    return ["population", *[d.name for d in result.detectors], "subjects"], rows


def _campaign_table(result: BenchResult) -> tuple[list[str], list[list[str]]]:
    ids = sorted({c.campaign_id for d in result.detectors for c in d.campaigns})
    by = {d.name: {c.campaign_id: c for c in d.campaigns} for d in result.detectors}
    strategies = {c.campaign_id: c.strategies for d in result.detectors for c in d.campaigns}
    rows = []
    for cid in ids:
        row = [cid, ", ".join(strategies.get(cid, ()))]
        for d in result.detectors:
            c = by[d.name].get(cid)
            if c is None:
                row.append("")
                continue
            mark = "caught" if c.caught else "missed"
            text = (
                f"{mark}: {100 * c.flagged_share:.0f}% flagged, "
                f"{_pct(c.share_events_before_containment)} harvested"
            )
            if c.replacements:
                text += (
                    f"; forced {c.replacements} replacement accounts, each served "
                    f"{c.replacement_median_served:.0f} requests (median) before containment"
                )
            row.append(text)
        rows.append(row)
    return ["campaign", "strategies", *[d.name for d in result.detectors]], rows


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(s: str) -> str:
        return s.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(cell, r)) + " |" for r in rows]
    return "\n".join(lines)


def _cost_rows(detectors: tuple[DetectorResult, ...]) -> list[list[str]]:
    return [
        [
            d.name,
            f"{d.cost.events_per_second:,.0f}",
            f"{d.cost.fit_seconds:,.1f}",
            _mib(d.cost.fit_peak_rss_mib, 0),
            _mib(d.cost.score_peak_rss_mib, 0),
            _mib(d.cost.fit_peak_traced_mib, 1),
            _mib(d.cost.process_max_rss_mib, 0),
        ]
        for d in detectors
    ]


def _mib(x: float, digits: int) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:,.{digits}f}"


COST_HEADER = [
    "detector",
    "scoring events/s",
    "fit seconds",
    "fit peak RSS MiB",
    "scoring peak RSS MiB",
    "fit peak MiB (tracemalloc)",
    "process max RSS MiB (cumulative)",
]

COST_NOTE = (
    "Peak RSS is the whole process's resident memory high-water mark during that step "
    "(reset before each step through /proc/self/clear_refs; n/a where the OS does not allow "
    "it). It sees every allocation, Polars' Rust side included, and includes what was already "
    "resident (interpreter, libraries, the loaded traffic). The tracemalloc peak counts "
    "Python and numpy allocations only and is n/a when run with --no-trace-memory; tracing "
    "slows fits, so fit seconds are inflated when it is on."
)


def render_markdown(result: BenchResult, plots: BenchPlots | None = None) -> str:
    seeds = ", ".join(map(str, result.eval_seeds))
    parts = [
        f"# DistillBench report: {result.scenario}",
        "",
        f"Calibrated on seed {result.calibration_seed}; reported on seed(s) {seeds}. "
        f"Every threshold was set on the calibration seed at target FPR {result.target_fpr:g}. "
        "Intervals are 95% bootstrap percentile intervals (subjects resampled; campaigns "
        "resampled for campaign recall). A subject is flagged at review or above; a campaign "
        "is caught when at least 90% of its accounts are flagged. Harvest is the share of a "
        "campaign's responses served before its accounts were throttled, downgraded or "
        "blocked (replayed hourly in event time); baselines only ever flag for review, so "
        "their harvest before containment is 100% by construction and the 'before first "
        "flag' column is the fair comparison.",
        "",
        "## Results",
        "",
        _md_table(MAIN_HEADER, _main_rows(result)),
        "",
    ]
    for name, why in result.skipped.items():
        parts += [f"- **{name} skipped**: {why}", ""]
    header, rows = _population_table(result, "fpr_by_population")
    parts += ["## False positive rate by population", "", _md_table(header, rows), ""]
    header, rows = _population_table(result, "fpr_replay_by_population")
    parts += [
        "## False positive rate at any replay cutoff, by population",
        "",
        "A benign subject counts if it was flagged at any hourly cutoff of the replay, even if "
        "it was cleared by the end of the day.",
        "",
        _md_table(header, rows),
        "",
    ]
    header, rows = _population_table(result, "recall_by_population")
    parts += ["## Recall by attack population", "", _md_table(header, rows), ""]
    header, rows = _population_table(result, "recall_by_strategy")
    header[0] = "strategy"
    parts += ["## Recall by campaign strategy", "", _md_table(header, rows), ""]
    header, rows = _campaign_table(result)
    parts += ["## Campaigns", "", _md_table(header, rows), ""]
    parts += ["## Cost", "", _md_table(COST_HEADER, _cost_rows(result.detectors)), ""]
    parts += [COST_NOTE, ""]
    parts += ["## Misses", ""]
    for d in result.detectors:
        parts.append(f"### {d.name}")
        parts += [f"- {m}" for m in d.misses] or ["- none"]
        parts.append("")
    if plots:
        parts += [
            "## Plots",
            "",
            "![ROC curves](plots/roc.png)",
            "",
            "![harvest curves](plots/harvest.png)",
            "",
        ]
        parts += [
            f"![{n} scores by population](plots/scores-{n}.png)"
            for n, png in plots.distributions.items()
            if png
        ]
    return "\n".join(parts) + "\n"


def render_html(result: BenchResult, plots: BenchPlots) -> str:
    from distillguard.ui.report import environment

    pop_fpr = _population_table(result, "fpr_by_population")
    pop_fpr_replay = _population_table(result, "fpr_replay_by_population")
    pop_recall = _population_table(result, "recall_by_population")
    strategy_header, strategy_rows = _population_table(result, "recall_by_strategy")
    strategy_recall = (["strategy", *strategy_header[1:]], strategy_rows)
    return (
        environment()
        .get_template("bench_report.html.j2")
        .render(
            result=result,
            main=(MAIN_HEADER, _main_rows(result)),
            pop_fpr=pop_fpr,
            pop_fpr_replay=pop_fpr_replay,
            pop_recall=pop_recall,
            strategy_recall=strategy_recall,
            campaigns=_campaign_table(result),
            cost=(COST_HEADER, _cost_rows(result.detectors)),
            cost_note=COST_NOTE,
            plots=plots,
        )
    )


def write_bench_report(
    result: BenchResult,
    out: Path,
    *,
    scored: Mapping[str, pl.DataFrame],
    curves: Mapping[str, pl.DataFrame],
) -> Path:
    """Write ``report.md``, ``plots/*.png`` and ``report.html``; returns the HTML path."""
    plots = make_plots(result, scored, curves)
    plot_dir = out / "plots"
    plot_dir.mkdir(parents=True, exist_ok=True)
    files = {"roc.png": plots.roc, "harvest.png": plots.harvest}
    files |= {f"scores-{n}.png": png for n, png in plots.distributions.items()}
    for name, png in files.items():
        if png:
            (plot_dir / name).write_bytes(base64.b64decode(png))
    (out / "report.md").write_text(render_markdown(result, plots), encoding="utf-8")
    path = out / "report.html"
    path.write_text(render_html(result, plots), encoding="utf-8")
    return path
