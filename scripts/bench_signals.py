"""Throughput of the signal tiers on real chat text (ShareGPT first turns, repeated).

Runs with POLARS_MAX_THREADS=2 unless set (the target is >= 50k requests/s on 2 cores for the
cheap tier: regexes, hashing, sentence index). Prints requests/s for the whole runner, per
signal and for batch preparation; the jailbreak classifier (model tier) is measured apart.

Usage: python scripts/bench_signals.py [--rows 200000] [--batch 65536]
"""

from __future__ import annotations

import os

os.environ.setdefault("POLARS_MAX_THREADS", "2")

import argparse
import sys
import time

import polars as pl

from distillguard import schema as S
from distillguard.signals import PreparedBatch, SignalRunner
from distillguard.signals.splits import corpus


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=65_536)
    args = ap.parse_args()
    chat = [c.text for c in corpus("sharegpt")]
    if not chat:
        print("sharegpt data package missing")
        return 1
    texts = (chat * (args.rows // len(chat) + 1))[: args.rows]
    frame = pl.DataFrame(
        {
            S.EVENT_KEY: [f"e{i}" for i in range(len(texts))],
            S.PROMPT: texts,
            S.LOGPROBS: [i % 7 == 0 for i in range(len(texts))],
            S.CHOICE_COUNT: [1 + (i % 3 == 0) for i in range(len(texts))],
            S.MAX_TOKENS: [4096] * len(texts),
        }
    )
    mean_chars = sum(map(len, texts)) / len(texts)
    print(
        f"{len(texts)} requests (ShareGPT first turns, mean {mean_chars:.0f} chars), "
        f"batch {args.batch}, POLARS_MAX_THREADS={os.environ['POLARS_MAX_THREADS']}"
    )

    cheap = SignalRunner.from_config({"signals": {"jailbreak": {"params": {"classifier": False}}}})
    batches = [frame.slice(i, args.batch) for i in range(0, frame.height, args.batch)]
    per: dict[str, float] = {"prepare": 0.0}
    started = time.perf_counter()
    cpu_started = time.process_time()
    for b in batches:
        cheap.score_batch(b)
    total = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    started = time.perf_counter()
    cheap.finish()
    finish = time.perf_counter() - started
    for b in batches:
        t = time.perf_counter()
        prepared = PreparedBatch.from_events(b)
        per["prepare"] += time.perf_counter() - t
        for s in cheap.signals:
            t = time.perf_counter()
            s.score(prepared)
            per[s.id] = per.get(s.id, 0.0) + time.perf_counter() - t
    n = frame.height
    print(
        f"cheap tier, whole runner: {n / total:,.0f} requests/s wall ({total:.2f} s); "
        f"{n / cpu:,.0f} requests per CPU-second ({cpu:.2f} CPU-s; x2 = ideal on 2 free cores)"
    )
    print(f"finish() template clustering over unique templates: {finish:.2f} s")
    for name, secs in per.items():
        print(f"  {name:10s} {n / secs:>12,.0f} requests/s  ({secs:.2f} s)")

    full = SignalRunner.from_config(None)
    sample = batches[0]
    started = time.perf_counter()
    full.score_batch(sample)
    secs = time.perf_counter() - started
    print(
        f"with jailbreak classifier (model tier): {sample.height / secs:,.0f} requests/s "
        f"on one batch of {sample.height}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
