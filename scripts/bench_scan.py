"""End-to-end scan benchmark against a physical reference measured in the same run.

Simulates (or reuses) a DistillBench scenario, then times in separate processes:
  1. DuckDB's raw ``read_json`` of the same file (the physical floor for reading it);
  2. ``distillguard scan`` of the file into a fresh store (ingest + signals + detection + outputs).
Peak RSS is the child's maximum resident set. Prints a Markdown table for docs/benchmarks.md.

    .venv/bin/python scripts/bench_scan.py --scenario default --seed 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

RAW_READ = """
import duckdb, sys
con = duckdb.connect()
con.execute("SET threads TO 2")
n = con.execute(
    "SELECT count(*), sum(length(\\"distillguard.prompt.text\\")) "
    "FROM read_json(?, format='newline_delimited', maximum_object_size=67108864)",
    [sys.argv[1]],
).fetchone()
print(n[0])
"""


def _child(cmd: list[str]) -> tuple[float, float, str]:
    """Run one child process; return (seconds, peak RSS in MiB, stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{cmd[:3]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the max over all children so far: run the big one last.
    return seconds, max(peak, before) / 1024, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", default="default")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path(".dg-data/bench-scan"))
    args = parser.parse_args()

    venv_bin = Path(sys.executable).parent
    traffic = args.work / f"{args.scenario}-seed{args.seed}"
    events = traffic / "events.jsonl"
    if not events.exists():
        print(f"simulating {args.scenario} seed {args.seed} ...", file=sys.stderr)
        subprocess.run(
            [
                str(venv_bin / "distillguard"),
                "-q",
                "simulate",
                "--scenario",
                args.scenario,
                "--seed",
                str(args.seed),
                "--out",
                str(traffic),
            ],
            check=True,
        )
    size_mb = events.stat().st_size / 2**20

    raw_s, raw_rss, raw_out = _child([sys.executable, "-c", RAW_READ, str(events)])
    n_events = int(raw_out.strip())

    store = args.work / "store"
    shutil.rmtree(store, ignore_errors=True)
    out = args.work / "out"
    scan_s, scan_rss, _ = _child(
        [
            str(venv_bin / "distillguard"),
            "-q",
            "scan",
            str(events),
            "--data-dir",
            str(store),
            "--out",
            str(out),
        ]
    )
    stages = json.loads((out / "summary.json").read_text())["seconds"]

    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}")
    print(f"input: {events} ({n_events:,} events, {size_mb:,.0f} MiB)\n")
    print("| step | seconds | events/s | peak RSS MiB |")
    print("|---|---:|---:|---:|")
    rows = [
        ("DuckDB raw read_json (reference)", raw_s, raw_rss),
        ("distillguard scan, end to end", scan_s, scan_rss),
    ]
    for label, seconds, rss in rows:
        print(f"| {label} | {seconds:.1f} | {n_events / seconds:,.0f} | {rss:,.0f} |")
    for stage, seconds in stages.items():
        print(f"| &nbsp; stage: {stage} | {seconds:.1f} | {n_events / max(seconds, 1e-9):,.0f} | |")


if __name__ == "__main__":
    main()
