"""End-to-end scan benchmark against a physical reference measured in the same run.

Simulates (or reuses) a DistillBench scenario, then times, each in its own process:
  1. DuckDB's raw ``read_json`` of the same file (the physical floor for reading it);
  2. the scan, stage by stage (what ``pipeline.scan`` runs: ingest into a fresh store, the
     signals over the store's batches, detection, outputs), with CPU seconds and the peak RSS
     after each stage;
  3. with ``--cli``, also ``distillguard scan`` itself (end to end, one number).
Prints Markdown tables for docs/benchmarks.md.

    .venv/bin/python scripts/bench_scan.py --events /tmp/dg-default/events.jsonl
    .venv/bin/python scripts/bench_scan.py --scenario default --seed 7 [--scale 0.2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

# The physical floor: DuckDB reading the same file with 2 threads. "count" parses only what the
# query needs (projection pushdown); "table" materialises every column, as ingest must.
RAW_READ = """
import duckdb, sys
con = duckdb.connect()
con.execute("SET threads TO 2")
con.execute("SET enable_progress_bar = false")
source = "read_json(?, format='newline_delimited', maximum_object_size=67108864)"
if sys.argv[2] == "count":
    n = con.execute(
        f"SELECT count(*), sum(length(\\"distillguard.prompt.text\\")) FROM {source}",
        [sys.argv[1]],
    ).fetchone()[0]
else:
    con.execute(f"CREATE TABLE events AS SELECT * FROM {source}", [sys.argv[1]])
    n = con.execute("SELECT count(*) FROM events").fetchone()[0]
print(n)
"""

STAGED = """
import gc, json, resource, sys, time
from pathlib import Path

from distillguard.decisions import detect
from distillguard.engines.duckdb_store import DuckDBStore
from distillguard.ingest import ingest
from distillguard.accounts.profile import with_subject_taken
from distillguard.pipeline import feature_frame
from distillguard.signals import SignalRunner
from distillguard.ui import write_scan_outputs

events, store_dir, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
out.mkdir(parents=True, exist_ok=True)
stages = []

def mark(name, started, cpu):
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    stages.append((name, time.perf_counter() - started, time.process_time() - cpu, rss))

with DuckDBStore(store_dir / "distillguard.duckdb") as store:
    t, c = time.perf_counter(), time.process_time()
    ingest([events], store=store, quarantine_path=out / "quarantine.jsonl")
    mark("ingest", t, c)
    t, c = time.perf_counter(), time.process_time()
    runner = SignalRunner.from_config(None)
    finish = runner.finish
    inner = []

    def timed_finish():  # the template clustering, timed inside the signal stage
        t, c = time.perf_counter(), time.process_time()
        out = finish()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        inner.append(("of which template clustering (`finish()`)", time.perf_counter() - t,
                      time.process_time() - c, rss))
        return out

    runner.finish = timed_finish
    # As pipeline.scan: text streamed in storage order, the feature frame put in
    # detection's order after (timed with detection).
    holder = [feature_frame(store.scan(None, 65_536, ordered=False), runner=runner)]
    mark("signals (feature frame)", t, c)
    stages.extend(inner)
    # pipeline.scan holds no runner after the signal stage: neither does this.
    del runner, finish, timed_finish
    gc.collect()
    size = holder[0].estimated_size() / 2**20
    t, c = time.perf_counter(), time.process_time()
    frame = with_subject_taken(holder)  # as pipeline.scan: the holder gives up the frame
    detection = detect(frame)
    mark("detection", t, c)
    t, c = time.perf_counter(), time.process_time()
    write_scan_outputs(detection, out, events=frame)
    mark("outputs", t, c)
print(json.dumps({"events": frame.height, "frame_mib": size, "columns": frame.width,
                  "stages": stages}))
"""

# Runs the CLI in a child and prints that child's peak RSS (MiB) last.
CLI = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
"""


def _child(cmd: list[str]) -> tuple[float, float, float, str]:
    """Run one child process; return (seconds, CPU seconds, peak RSS in MiB, stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{cmd[:3]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    # ru_maxrss of children is the max over all children so far: the small ones run first.
    return seconds, cpu, after.ru_maxrss / 1024, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=Path, help="an existing canonical JSONL file")
    parser.add_argument("--scenario", default="default")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--work", type=Path, default=Path(".dg-data/bench-scan"))
    parser.add_argument("--cli", action="store_true", help="also time `distillguard scan`")
    args = parser.parse_args()

    venv_bin = Path(sys.executable).parent
    events = args.events
    if events is None:
        traffic = args.work / f"{args.scenario}-x{args.scale}-seed{args.seed}"
        events = traffic / "events.jsonl"
        if not events.exists():
            print(f"simulating {args.scenario} seed {args.seed} ...", file=sys.stderr)
            subprocess.run(
                [str(venv_bin / "distillguard"), "-q", "simulate", "--scenario", args.scenario,
                 "--seed", str(args.seed), "--scale", str(args.scale), "--out", str(traffic)],
                check=True,
            )  # fmt: skip
    size_mb = events.stat().st_size / 2**20
    load = os.getloadavg()[0]

    raw_s, raw_cpu, raw_rss, raw_out = _child(
        [sys.executable, "-c", RAW_READ, str(events), "count"]
    )
    n_events = int(raw_out.strip())
    full_s, full_cpu, full_rss, _ = _child([sys.executable, "-c", RAW_READ, str(events), "table"])

    store = args.work / "store"
    out = args.work / "out"
    shutil.rmtree(store, ignore_errors=True)
    store.mkdir(parents=True)
    staged_s, staged_cpu, _, staged_out = _child(
        [sys.executable, "-c", STAGED, str(events), str(store), str(out)]
    )
    staged = json.loads(staged_out.strip().splitlines()[-1])

    rows = [
        ("reference: DuckDB read_json, count + prompt length", raw_s, raw_cpu, raw_rss),
        ("reference: DuckDB read_json, all columns into a table", full_s, full_cpu, full_rss),
        # The child's own peak (ru_maxrss of children is a max over every child so far).
        (
            "scan, end to end (stages below, one process)",
            staged_s,
            staged_cpu,
            staged["stages"][-1][3],
        ),
    ]
    if args.cli:
        shutil.rmtree(store, ignore_errors=True)
        cli_s, cli_cpu, _, cli_out = _child(
            [sys.executable, "-c", CLI, str(venv_bin / "distillguard"), "-q", "scan",
             str(events), "--data-dir", str(store), "--out", str(out / "cli")]
        )  # fmt: skip
        rows.append(("`distillguard scan` (CLI)", cli_s, cli_cpu, float(cli_out.split()[-1])))

    machine = (
        f"{platform.machine()}, {os.cpu_count()} CPUs (shared; load average {load:.1f} at start), "
        f"Python {platform.python_version()}"
    )
    print(f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {machine}")
    print(f"input: {events} ({n_events:,} events, {size_mb:,.0f} MiB)")
    print(
        f"feature frame: {staged['columns']} columns, {staged['frame_mib']:,.0f} MiB "
        f"({staged['frame_mib'] * 2**20 / max(staged['events'], 1):.0f} bytes/event)\n"
    )
    print("| step | wall s | CPU s | events/s (wall) | events per CPU-s | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, seconds, cpu, rss in rows:
        print(
            f"| {label} | {seconds:.1f} | {cpu:.1f} | {n_events / seconds:,.0f} | "
            f"{n_events / max(cpu, 1e-9):,.0f} | {rss:,.0f} |"
        )
    for name, seconds, cpu, rss in staged["stages"]:
        label = f"&nbsp; &nbsp; {name}" if name.startswith("of which") else f"&nbsp; stage: {name}"
        print(
            f"| {label} | {seconds:.1f} | {cpu:.1f} | "
            f"{n_events / max(seconds, 1e-9):,.0f} | {n_events / max(cpu, 1e-9):,.0f} | "
            f"{rss:,.0f} (so far) |"
        )


if __name__ == "__main__":
    main()
