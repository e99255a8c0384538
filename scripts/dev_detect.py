"""Developer loop for detection: simulate → signals → calibrate (seed A) → detect (seed B).

    .venv/bin/python scripts/dev_detect.py --scenario small --calibration-seed 1 --seed 2

Feature frames are cached under --work. ``--replay-hours H`` also replays the seed in
event time (detect on every H-hour prefix of the feature frame, like the bench's replay)
and prints each campaign's share of requests served before containment and before flag,
and the benign subjects flagged on any prefix.
Prints account/campaign recall, benign FPR overall and per population (review or stronger
counts as flagged), and detect's time.
Calibration uses only the calibration seed's labels; the reported seed's labels are
used for nothing but these metrics.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import polars as pl

from distillguard import schema as S

FLAGGED = ["review", "throttle", "downgrade", "block"]
# Bump when signals change what they write (2: wrapper-level template ids), so cached feature
# frames from older code are not reused.
FEATURES_VERSION = 2


def features(
    scenario: str, seed: int, work: Path, scale: float
) -> tuple[pl.DataFrame, pl.DataFrame]:
    from distillguard.bench.simulate import simulate
    from distillguard.pipeline import feature_frame

    root = work / f"{scenario}-x{scale}-seed{seed}"
    cached = root / f"features-v{FEATURES_VERSION}.parquet"
    if not cached.is_file():
        started = time.perf_counter()
        simulate(scenario, seed=seed, out=root, fmt="parquet", scale=scale)
        print(f"simulated seed {seed} in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        events = pl.read_parquet(root / "events.parquet")
        started = time.perf_counter()
        frame = feature_frame(iter(events.iter_slices(65_536)))
        print(f"signals seed {seed} in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        frame.write_parquet(cached)
    subjects = pl.read_parquet(root / "labels" / "subjects.parquet").rename(
        {"account_id": S.ACCOUNT, "enduser_id": S.ENDUSER}
    )
    return pl.read_parquet(cached), subjects


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", default="small")
    ap.add_argument("--calibration-seed", type=int, default=1)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--work", type=Path, default=Path("/tmp/dg-dev"))
    ap.add_argument("--show", type=int, default=12, help="false positives / misses to print")
    ap.add_argument(
        "--replay-hours", type=float, default=0.0, help="replay step in hours (0: no replay)"
    )
    args = ap.parse_args()
    if args.seed == args.calibration_seed:
        sys.exit("never report on the calibration seed")
    from distillguard.decisions import calibrate, detect

    cal_frame, cal_labels = features(args.scenario, args.calibration_seed, args.work, args.scale)
    benign = cal_labels.filter(~pl.col("is_attack")).select(S.ACCOUNT, S.ENDUSER, "population")
    started = time.perf_counter()
    calibration = calibrate(cal_frame, benign)
    print(
        f"calibrate: {time.perf_counter() - started:.1f}s  thresholds: "
        + ", ".join(f"{k}={v:.4f}" for k, v in calibration.thresholds.items())
    )
    frame, labels = features(args.scenario, args.seed, args.work, args.scale)
    started = time.perf_counter()
    detection = detect(frame, calibration=calibration)
    took = time.perf_counter() - started
    print(
        f"detect: {took:.2f}s on {frame.height:,} events, {detection.subjects.height:,} subjects, "
        f"{detection.edges.height:,} edges, {len(detection.campaigns)} campaigns"
    )
    report(detection.subjects, labels, args.show)
    if args.replay_hours > 0:
        replay(frame, labels, calibration, args.replay_hours)


def replay(frame: pl.DataFrame, labels: pl.DataFrame, calibration: object, hours: float) -> None:
    """Per campaign: share of its requests served before containment / first flag."""
    from datetime import timedelta

    from distillguard.decisions import Calibration, detect

    assert isinstance(calibration, Calibration)
    frame = frame.sort(S.TIMESTAMP)
    first, last = frame[S.TIMESTAMP].min(), frame[S.TIMESTAMP].max()
    assert first is not None and last is not None
    step = timedelta(hours=hours)
    cut, parts = first + step, []  # type: ignore[operator]
    key = [S.ACCOUNT, S.ENDUSER]
    while True:
        prefix = frame.filter(pl.col(S.TIMESTAMP) < cut)
        if prefix.height:
            subjects = detect(prefix, calibration=calibration).subjects
            parts.append(
                subjects.select(
                    *key,
                    pl.when(pl.col("action").is_in(FLAGGED)).then(pl.lit(cut)).alias("flagged_at"),
                    pl.when(pl.col("action").is_in(FLAGGED[1:]))
                    .then(pl.lit(cut))
                    .alias("contained_at"),
                )
            )
        if cut > last:
            break
        cut += step
    times = (
        pl.concat(parts).group_by(key).agg(pl.col("flagged_at").min(), pl.col("contained_at").min())
    )
    benign = (
        labels.filter(~pl.col("is_attack"))
        .select(*key, "population")
        .join(times, on=key, how="left", nulls_equal=True)
        .group_by("population")
        .agg(pl.len().alias("n"), pl.col("flagged_at").is_not_null().sum().alias("ever_flagged"))
        .filter(pl.col("ever_flagged") > 0)
        .sort("population")
    )
    print(f"benign flagged on some prefix: {benign['ever_flagged'].sum()}")
    if benign.height:
        print(benign)
    attack = labels.filter(pl.col("campaign_id").is_not_null()).select(*key, "campaign_id")
    served = (
        frame.select(S.TIMESTAMP, *key)
        .join(attack, on=key, nulls_equal=True)
        .join(times, on=key, how="left", nulls_equal=True)
        .group_by("campaign_id")
        .agg(
            (pl.col("contained_at").is_null() | (pl.col(S.TIMESTAMP) < pl.col("contained_at")))
            .mean()
            .alias("before_containment"),
            (pl.col("flagged_at").is_null() | (pl.col(S.TIMESTAMP) < pl.col("flagged_at")))
            .mean()
            .alias("before_flag"),
        )
        .sort("campaign_id")
    )
    print(served)
    print(
        f"harvest median: before containment {served['before_containment'].median():.3f}, "
        f"before flag {served['before_flag'].median():.3f}"
    )


def report(subjects: pl.DataFrame, labels: pl.DataFrame, show: int) -> None:
    joined = labels.join(subjects, on=[S.ACCOUNT, S.ENDUSER], how="left", nulls_equal=True)
    joined = joined.with_columns(pl.col("action").is_in(FLAGGED).fill_null(False).alias("flagged"))
    attack = joined.filter(pl.col("is_attack"))
    benign = joined.filter(~pl.col("is_attack"))
    per_campaign = (
        attack.group_by("campaign_id")
        .agg(
            pl.len().alias("n"),
            pl.col("flagged").mean().alias("recall"),
            pl.col("risk").median().alias("median_risk"),
            pl.col("strategies").first(),
        )
        .sort("campaign_id")
    )
    caught = per_campaign.filter(pl.col("recall") >= 0.9).height
    print(
        f"campaign recall {caught}/{per_campaign.height}; account recall "
        f"{attack['flagged'].mean():.3f} ({attack['flagged'].sum()}/{attack.height}); "
        f"benign FPR {benign['flagged'].mean():.4%} ({benign['flagged'].sum()}/{benign.height})"
    )
    with pl.Config(tbl_rows=50, tbl_width_chars=200, fmt_str_lengths=90):
        print(per_campaign)
        print(
            benign.group_by("population")
            .agg(
                pl.len().alias("n"),
                pl.col("flagged").mean().alias("fpr"),
                pl.col("flagged").sum().alias("flagged"),
                pl.col("risk").max().alias("max_risk"),
                pl.col("risk").quantile(0.99).alias("p99_risk"),
            )
            .sort("population")
        )
        cols = [
            S.ACCOUNT,
            S.ENDUSER,
            "population",
            "events",
            "content",
            "narrow",
            "automation",
            "new_full",
            "coordination",
            "risk",
            "action",
            "reasons",
        ]
        print(
            benign.filter(pl.col("flagged")).sort("risk", descending=True).select(cols).head(show)
        )
        print(
            attack.filter(~pl.col("flagged"))
            .sort("risk", descending=True)
            .select(["campaign_id", *cols[3:]])
            .head(show)
        )


if __name__ == "__main__":
    main()
