"""Ingest throughput: ours vs DuckDB's own read_json of the same canonical JSONL.

Usage: python scripts/bench_ingest.py [--events 1000000] [--input FILE] [--workdir DIR]

Generates synthetic canonical events (unless --input is given) with prompt
lengths drawn from a log-normal fitted by eye to chat traffic (median ~300
chars, long tail to ~20k), then runs each reader in its own subprocess on the
same 2 CPU cores and prints a Markdown table (events/s, MB/s, CPU s, peak RSS)
with the load average around the run: on a shared host, wall time depends on it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "with",
    "was",
    "on",
    "be",
    "by",
    "this",
    "are",
    "from",
    "or",
    "have",
    "an",
    "they",
    "which",
    "you",
    "one",
    "were",
    "all",
    "we",
    "when",
    "there",
    "can",
    "more",
    "if",
    "no",
    "out",
    "so",
    "said",
    "what",
    "up",
    "its",
    "about",
    "into",
    "than",
    "them",
    "solve",
    "explain",
    "step",
    "reasoning",
    "proof",
    "code",
    "function",
    "python",
    "write",
    "list",
    "translate",
    "summarise",
    "compute",
    "integral",
    "matrix",
    "why",
    "how",
    "model",
    "data",
    "answer",
    "question",
    "think",
    "carefully",
    "output",
    "format",
]
MODELS = ("frontier-2", "frontier-2-mini", "frontier-2-reasoning")


def generate(path: Path, events: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    start = 1_772_000_000  # 2026-02-25
    with path.open("w") as out:
        for i in range(events):
            n_chars = min(int(rng.lognormvariate(5.3, 1.0)), 20_000)
            words: list[str] = []
            size = 0
            while size < n_chars:
                word = rng.choice(WORDS)
                words.append(word)
                size += len(word) + 1
            prompt = " ".join(words)
            messages = [{"role": "user", "content": prompt}]
            row = {
                "timestamp": time.strftime(
                    "%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + i * 2 + rng.randint(0, 1))
                ),
                "distillguard.request.id": f"req_{seed}_{i:09d}",
                "distillguard.account.id": f"acct_{rng.randint(0, 20_000):05d}",
                "distillguard.api_key.id": f"key_{rng.randint(0, 40_000):05d}",
                "gen_ai.request.model": rng.choice(MODELS),
                "gen_ai.request.max_tokens": rng.choice((1024, 4096, 8192)),
                "gen_ai.request.temperature": rng.choice((0.0, 0.7, 1.0)),
                "gen_ai.usage.input_tokens": n_chars // 4,
                "gen_ai.usage.output_tokens": rng.randint(10, 4000),
                "gen_ai.response.finish_reasons": ["stop"],
                "gen_ai.input.messages": json.dumps(messages),
                "distillguard.prompt.text": prompt,
                "distillguard.prompt.turns": 1,
                "client.address": f"203.0.{rng.randint(0, 255)}.{rng.randint(0, 255)}",
                "user_agent.original": "OpenAI/Python 1.40.0",
                "geo.country.iso_code": rng.choice(("US", "DE", "SG", "BR")),
            }
            out.write(json.dumps(row) + "\n")


def _ours(path: str, workdir: str) -> dict[str, float]:
    from distillguard.engines.duckdb_store import DuckDBStore
    from distillguard.ingest import ingest

    started = time.perf_counter()
    with DuckDBStore(Path(workdir) / "ours.duckdb", threads=2) as store:
        summary = ingest([path], store=store, quarantine_path=Path(workdir) / "q.jsonl")
    seconds = time.perf_counter() - started
    return {
        "events": summary.rows_stored,
        "seconds": seconds,
        "quarantined": summary.rows_quarantined,
    }


def _duckdb(path: str, workdir: str) -> dict[str, float]:
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect(str(Path(workdir) / "raw.duckdb"))
    con.execute("SET threads = 2")
    con.execute(
        "CREATE TABLE events AS SELECT * FROM read_json(?, format='newline_delimited')", [path]
    )
    events = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
    con.close()
    return {"events": events, "seconds": time.perf_counter() - started, "quarantined": 0}


def _child(which: str, path: str, workdir: str) -> None:
    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))[:2]
        os.sched_setaffinity(0, cores)
    result = (_ours if which == "ours" else _duckdb)(path, workdir)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    # CPU seconds (all threads): the work done, less sensitive than wall time to other jobs.
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--input", type=Path)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dg-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    path = args.input
    if path is None:
        path = workdir / "events.jsonl"
        if not path.exists():
            started = time.perf_counter()
            generate(path, args.events)
            print(
                f"generated {args.events:,} events in {time.perf_counter() - started:.0f}s",
                file=sys.stderr,
            )
    size_mb = path.stat().st_size / 1e6
    load_before = os.getloadavg()
    rows = []
    for which in ("ours", "duckdb"):
        for leftover in workdir.glob(f"{'ours' if which == 'ours' else 'raw'}.duckdb*"):
            leftover.unlink()
        out = (
            subprocess.run(
                [sys.executable, __file__, "--child", which, str(path), str(workdir)],
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        result = json.loads(out)
        rows.append((which, result))
    load_after = os.getloadavg()
    print(f"date: {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC")
    print(f"input: {path} ({size_mb:,.0f} MB), 2 cores (host shared with other jobs)")
    print(
        "load average (1/5/15 min): "
        f"before {'/'.join(f'{x:.1f}' for x in load_before)}, "
        f"after {'/'.join(f'{x:.1f}' for x in load_after)}\n"
    )
    print("| reader | events | wall s | events/s | MB/s | CPU s | events/CPU-s | peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for which, r in rows:
        name = (
            "distillguard ingest -> DuckDBStore"
            if which == "ours"
            else "DuckDB read_json -> table (reference)"
        )
        print(
            f"| {name} | {int(r['events']):,} | {r['seconds']:.1f} | "
            f"{r['events'] / r['seconds']:,.0f} | {size_mb / r['seconds']:,.0f} | "
            f"{r['cpu_s']:.1f} | {r['events'] / r['cpu_s']:,.0f} | {r['peak_rss_mb']:,.0f} |"
        )


if __name__ == "__main__":
    main()
