"""Throughput of the signal tiers on real chat text (ShareGPT first turns).

Runs with POLARS_MAX_THREADS=2 unless set (the target is >= 50k requests/s on 2 cores for the
cheap tier: regexes, hashing, sentence index). Two inputs:

- ``repeated``: the ShareGPT first turns repeated to ``--rows`` (what this script measured
  before distinct-prompt sharing existed: each batch now scores each distinct prompt once);
- ``distinct``: every request made distinct (`` [#i]`` appended), so no work is shared. This is
  the honest per-request cost.

For each: the whole cheap tier (``SignalRunner.score_batches``, jailbreak classifier off) with
1 and with N scoring threads (wall and per CPU-second), then the model tier (classifier on).
A per-part breakdown (batch preparation, each signal) follows, on the distinct input.

Usage: python scripts/bench_signals.py [--rows 131072] [--batch 65536] [--workers 2]
"""

from __future__ import annotations

import os

os.environ.setdefault("POLARS_MAX_THREADS", "2")

import argparse
import platform
import sys
import time
from typing import Any

import polars as pl

from distillguard import schema as S
from distillguard.signals import PreparedBatch, SignalRunner
from distillguard.signals.splits import corpus


def _frame(texts: list[str]) -> pl.DataFrame:
    n = len(texts)
    return pl.DataFrame(
        {
            S.EVENT_KEY: [f"e{i}" for i in range(n)],
            S.PROMPT: texts,
            S.LOGPROBS: [i % 7 == 0 for i in range(n)],
            S.CHOICE_COUNT: [1 + (i % 3 == 0) for i in range(n)],
            S.MAX_TOKENS: [4096] * n,
        }
    )


def _run(
    config: dict[str, object], batches: list[pl.DataFrame], workers: int
) -> tuple[float, float]:
    runner = SignalRunner.from_config(config)
    runner.score_batch(batches[0].head(64))  # warm caches that are not per batch
    runner = SignalRunner(runner.signals, runner.config)
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in runner.score_batches(iter(batches), workers=workers):
        pass
    return time.perf_counter() - started, time.process_time() - cpu_started


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=131_072)
    ap.add_argument("--batch", type=int, default=65_536)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    chat = [c.text for c in corpus("sharegpt")]
    if not chat:
        print("sharegpt data package missing")
        return 1
    repeated = (chat * (args.rows // len(chat) + 1))[: args.rows]
    inputs = {
        "repeated": repeated,
        "distinct": [f"{t} [#{i}]" for i, t in enumerate(repeated)],
    }
    n = len(repeated)
    mean_chars = sum(map(len, repeated)) / n
    print(
        f"{platform.machine()}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}; {n} requests (ShareGPT first turns, {len(chat)} distinct, "
        f"mean {mean_chars:.0f} chars), batch {args.batch}, "
        f"POLARS_MAX_THREADS={os.environ['POLARS_MAX_THREADS']}\n"
    )
    cheap: dict[str, Any] = {"signals": {"jailbreak": {"params": {"classifier": False}}}}
    no_config: dict[str, Any] = {}
    print("| input | tier | threads | requests/s wall | requests per CPU-second |")
    print("|---|---|---:|---:|---:|")
    for name, texts in inputs.items():
        frame = _frame(texts)
        batches = [frame.slice(i, args.batch) for i in range(0, n, args.batch)]
        for tier, config in (("cheap", cheap), ("with classifier", no_config)):
            for workers in sorted({1, args.workers}):
                if tier != "cheap" and workers == 1:
                    continue
                wall, cpu = _run(config, batches, workers)
                print(f"| {name} | {tier} | {workers} | {n / wall:,.0f} | {n / cpu:,.0f} |")

    frame = _frame(inputs["distinct"])
    batches = [frame.slice(i, args.batch) for i in range(0, n, args.batch)]
    runner = SignalRunner.from_config(cheap)
    per: dict[str, float] = {"prepare": 0.0}
    for b in batches:
        t = time.process_time()
        prepared = PreparedBatch.from_events(b)
        per["prepare"] += time.process_time() - t
        for s in runner.signals:
            t = time.process_time()
            s.score(prepared)
            per[s.id] = per.get(s.id, 0.0) + time.process_time() - t
    print("\nper part, distinct input, one thread:\n")
    print("| part | requests per CPU-second | CPU-s |")
    print("|---|---:|---:|")
    for name, secs in per.items():
        print(f"| {name} | {n / max(secs, 1e-9):,.0f} | {secs:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
