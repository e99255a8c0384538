"""Bench results: typed records, and their computation from labelled score frames.

The harness hands this module one "scored" frame per detector, pooled over the
reported seeds, one row per subject:

``seed`` (Int64), ``distillguard.account.id``, ``enduser.id``, ``risk`` (Float64),
``action`` (Utf8), ``population`` (Utf8), ``is_attack`` (Boolean),
``campaign_id`` (Utf8, seed-prefixed, null for benign).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from distillguard.bench import metrics as M
from distillguard.bench.replay import FLAG_ACTIONS

__all__ = [
    "BenchResult",
    "CampaignOutcome",
    "Cost",
    "DetectorResult",
    "evaluate",
]


@dataclass(frozen=True)
class CampaignOutcome:
    """One campaign under one detector (seed-prefixed id)."""

    campaign_id: str
    accounts: int
    flagged_share: float  # share of its accounts at review or above
    caught: bool
    strategies: tuple[str, ...] = ()
    share_events_before_containment: float = math.nan
    share_tokens_before_containment: float = math.nan
    share_events_before_flag: float = math.nan
    replacements: int = 0  # closed-loop replay: accounts the campaign burned
    replacement_median_served: float = math.nan  # requests one served before containment


@dataclass(frozen=True)
class Cost:
    events_per_second: float  # scoring throughput over the reported seeds
    fit_seconds: float
    fit_peak_traced_mib: float  # tracemalloc peak during fit (Python and numpy heap only)
    process_max_rss_mib: float  # process high-water mark after this detector ran
    fit_peak_rss_mib: float = math.nan  # process RSS peak during fit (NaN: not measurable)
    score_peak_rss_mib: float = math.nan  # process RSS peak while scoring the reported seeds


@dataclass(frozen=True)
class DetectorResult:
    name: str
    subjects: int
    attack_subjects: int
    precision: M.Estimate
    recall: M.Estimate
    fpr: M.Estimate
    auroc: M.Estimate
    auprc: M.Estimate
    fpr_by_population: dict[str, M.Estimate]
    recall_by_population: dict[str, M.Estimate]
    recall_by_strategy: dict[str, M.Estimate]  # attack subjects whose campaign uses it
    campaign_recall: M.Estimate
    campaigns: tuple[CampaignOutcome, ...]
    cost: Cost
    harvest_median_events: float = math.nan  # median share served before containment
    harvest_median_tokens: float = math.nan
    harvest_median_before_flag: float = math.nan
    # flagged at any replay cutoff, not only at the end (None: no replay)
    fpr_replay: M.Estimate | None = None
    fpr_replay_by_population: dict[str, M.Estimate] = field(default_factory=dict)
    misses: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("precision", "recall", "fpr", "auroc", "auprc", "campaign_recall"):
            out[key] = getattr(self, key).as_dict()
        out["fpr_by_population"] = {k: v.as_dict() for k, v in self.fpr_by_population.items()}
        out["fpr_replay"] = self.fpr_replay.as_dict() if self.fpr_replay else None
        out["fpr_replay_by_population"] = {
            k: v.as_dict() for k, v in self.fpr_replay_by_population.items()
        }
        out["recall_by_population"] = {k: v.as_dict() for k, v in self.recall_by_population.items()}
        return _finite(out)


def _finite(value: Any) -> Any:
    """JSON has no NaN: write null instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


@dataclass(frozen=True)
class BenchResult:
    scenario: str
    calibration_seed: int
    eval_seeds: tuple[int, ...]
    target_fpr: float
    detectors: tuple[DetectorResult, ...]
    skipped: dict[str, str] = field(default_factory=dict)  # detector -> why
    out_dir: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "calibration_seed": self.calibration_seed,
            "eval_seeds": list(self.eval_seeds),
            "target_fpr": self.target_fpr,
            "detectors": [d.as_dict() for d in self.detectors],
            "skipped": dict(self.skipped),
        }

    def summary_text(self) -> str:
        lines = [
            f"DistillBench {self.scenario}: calibrated on seed {self.calibration_seed}, "
            f"reported on seeds {', '.join(map(str, self.eval_seeds))} "
            f"(target FPR {self.target_fpr:g})"
        ]
        for d in self.detectors:
            lines.append(
                f"  {d.name:<13} precision {d.precision.text()}  recall {d.recall.text()}  "
                f"FPR {d.fpr.text(4)}  AUROC {d.auroc.text()}  "
                f"campaigns {d.campaign_recall.text(2)}  "
                f"harvest {_pct(d.harvest_median_events)}"
            )
        for name, why in self.skipped.items():
            lines.append(f"  {name:<13} skipped: {why}")
        return "\n".join(lines)


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{100 * x:.1f}%"


def _estimate(
    fn: Any, n: int, reps: int, seed: int, groups: npt.NDArray[np.int64] | None = None
) -> M.Estimate:
    return M.bootstrap(fn, n, groups=groups, reps=reps, seed=seed)


def evaluate(
    name: str,
    scored: pl.DataFrame,
    *,
    cost: Cost,
    harvest: pl.DataFrame | None = None,
    campaign_info: pl.DataFrame | None = None,
    target_fpr: float,
    reps: int = 1000,
    seed: int = 0,
) -> DetectorResult:
    """All account- and campaign-level metrics of one detector, with 95% bootstrap CIs.

    ``harvest``: per-campaign frame from :func:`distillguard.bench.replay.harvest`
    (seed-prefixed campaign ids). ``campaign_info``: ``campaign_id`` and
    ``strategies`` (list of Utf8), seed-prefixed.
    """
    y = scored["is_attack"].to_numpy().astype(bool)
    pred = scored["action"].is_in(FLAG_ACTIONS).to_numpy().astype(bool)
    risk = scored["risk"].to_numpy().astype(np.float64)
    n = scored.height

    def est(
        stat: Any,
        mask: npt.NDArray[np.bool_] | None = None,
        flagged: npt.NDArray[np.bool_] = pred,
    ) -> M.Estimate:
        yy, pp, rr = (y, flagged, risk) if mask is None else (y[mask], flagged[mask], risk[mask])
        return _estimate(lambda i: stat(yy[i], pp[i], rr[i]), yy.size, reps, seed)

    precision = est(lambda t, p, r: M.precision(t, p))
    recall = est(lambda t, p, r: M.recall(t, p))
    fpr = est(lambda t, p, r: M.fpr(t, p))
    auroc = est(lambda t, p, r: M.auroc(t, r))
    auprc = est(lambda t, p, r: M.auprc(t, r))

    populations = scored["population"].to_numpy()
    fpr_pop: dict[str, M.Estimate] = {}
    recall_pop: dict[str, M.Estimate] = {}
    for pop in sorted(set(populations.tolist())):
        mask = populations == pop
        if (~y[mask]).any():
            fpr_pop[pop] = est(lambda t, p, r: M.fpr(t, p), mask & ~y)
        if y[mask].any():
            recall_pop[pop] = est(lambda t, p, r: M.recall(t, p), mask & y)

    fpr_replay: M.Estimate | None = None
    fpr_replay_pop: dict[str, M.Estimate] = {}
    if "flagged_in_replay" in scored.columns:
        ever = scored["flagged_in_replay"].to_numpy().astype(bool)
        fpr_replay = est(lambda t, p, r: M.fpr(t, p), flagged=ever)
        for pop in fpr_pop:
            fpr_replay_pop[pop] = est(lambda t, p, r: M.fpr(t, p), (populations == pop) & ~y, ever)

    recall_strategy: dict[str, M.Estimate] = {}
    if "strategies" in scored.columns:
        lists = [tuple(v or ()) for v in scored["strategies"].to_list()]
        for strategy in sorted({x for v in lists for x in v}):
            mask = np.array([strategy in v for v in lists], dtype=bool) & y
            if mask.any():
                recall_strategy[strategy] = est(lambda t, p, r: M.recall(t, p), mask)

    outcomes = _campaigns(
        scored.filter(pl.col("campaign_id").is_not_null()), harvest, campaign_info
    )
    caught = np.array([c.caught for c in outcomes], dtype=bool)
    campaign_recall = _estimate(
        lambda i: float(caught[i].mean()) if i.size else math.nan, caught.size, reps, seed
    )

    def median(attr: str) -> float:
        vals = [getattr(c, attr) for c in outcomes if not math.isnan(getattr(c, attr))]
        return float(np.median(vals)) if vals else math.nan

    result = DetectorResult(
        name=name,
        subjects=n,
        attack_subjects=int(y.sum()),
        precision=precision,
        recall=recall,
        fpr=fpr,
        auroc=auroc,
        auprc=auprc,
        fpr_by_population=fpr_pop,
        recall_by_population=recall_pop,
        recall_by_strategy=recall_strategy,
        campaign_recall=campaign_recall,
        campaigns=tuple(outcomes),
        cost=cost,
        harvest_median_events=median("share_events_before_containment"),
        harvest_median_tokens=median("share_tokens_before_containment"),
        harvest_median_before_flag=median("share_events_before_flag"),
        fpr_replay=fpr_replay,
        fpr_replay_by_population=fpr_replay_pop,
    )
    return _with_misses(result, target_fpr)


def _campaigns(
    attack: pl.DataFrame, harvest: pl.DataFrame | None, info: pl.DataFrame | None
) -> list[CampaignOutcome]:
    per = (
        attack.group_by("campaign_id")
        .agg(
            pl.len().alias("accounts"),
            pl.col("action").is_in(FLAG_ACTIONS).alias("flagged"),
        )
        .sort("campaign_id")
    )
    harvest_rows = {r["campaign_id"]: r for r in harvest.to_dicts()} if harvest is not None else {}
    strategies: dict[str, tuple[str, ...]] = {}
    if info is not None and "strategies" in info.columns:
        strategies = {r["campaign_id"]: tuple(r["strategies"] or ()) for r in info.to_dicts()}
    out = []
    for row in per.iter_rows(named=True):
        flagged = np.asarray(row["flagged"], dtype=bool)
        h = harvest_rows.get(row["campaign_id"], {})
        out.append(
            CampaignOutcome(
                campaign_id=row["campaign_id"],
                accounts=int(row["accounts"]),
                flagged_share=float(flagged.mean()),
                caught=M.campaign_caught(flagged),
                strategies=strategies.get(row["campaign_id"], ()),
                share_events_before_containment=_num(h.get("share_events_before_containment")),
                share_tokens_before_containment=_num(h.get("share_tokens_before_containment")),
                share_events_before_flag=_num(h.get("share_events_before_flag")),
                replacements=int(h.get("replacements") or 0),
                replacement_median_served=_num(h.get("replacement_median_served")),
            )
        )
    return out


def _num(x: Any) -> float:
    return math.nan if x is None else float(x)


def _with_misses(result: DetectorResult, target_fpr: float) -> DetectorResult:
    """Name what fails: campaigns not caught, noisy benign populations, weak strategies."""
    misses: list[str] = []
    missed = [c for c in result.campaigns if not c.caught]
    if result.campaigns and len(missed) == len(result.campaigns):
        misses.append(f"no campaign caught (0 of {len(result.campaigns)})")
    else:
        for c in missed:
            strat = f" ({', '.join(c.strategies)})" if c.strategies else ""
            misses.append(
                f"campaign {c.campaign_id}{strat} not caught: "
                f"{100 * c.flagged_share:.0f}% of {c.accounts} accounts flagged"
            )
    for pop, e in result.fpr_by_population.items():
        if not math.isnan(e.value) and e.value > 2 * target_fpr:
            misses.append(f"population {pop}: FPR {e.value:.3f} exceeds 2x target ({e.n} subjects)")
    for pop, e in result.fpr_replay_by_population.items():
        final = result.fpr_by_population.get(pop)
        if e.value > 2 * target_fpr and (final is None or e.value > final.value):
            misses.append(
                f"population {pop}: FPR {e.value:.3f} at some replay cutoff, "
                "flagged mid-day and cleared later"
            )
    if len(result.recall_by_population) > 1:  # one attack population is just overall recall
        for pop, e in result.recall_by_population.items():
            if not math.isnan(e.value) and e.value < 0.5:
                misses.append(f"attack population {pop}: recall {e.value:.2f} ({e.n} subjects)")
    weak = [
        f"{strategy} {e.value:.2f}"
        for strategy, e in result.recall_by_strategy.items()
        if not math.isnan(e.value) and e.value < 0.5
    ]
    if weak:
        misses.append("strategies with recall below 0.5: " + ", ".join(weak))
    return DetectorResult(**{**result.__dict__, "misses": tuple(misses)})
