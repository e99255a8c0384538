"""Measure signal quality; prints the markdown tables that docs/signals.md quotes.

- False-positive rate of every text signal on the ShareGPT EVALUATION split of first turns
  (never used to fit or tune anything; ``signals.splits``), at the firing threshold 0.5.
- Recall on held-out phrasings (tests/signals/heldout/phrasings.tsv), with every family
  enabled ("seen") and with the phrasing's own family removed ("unseen family").
- Jailbreaks: index + classifier built on the TRAIN split of templates; recall on the EVAL split
  ("seen sources") and with a whole source held out ("unseen source").
- Synthetic: recall on the airoboros generator templates (real meta-prompts, never a pattern
  source). Dataset: recall on benchmark items embedded in a wrapper.

95% intervals are Wilson score intervals.

Usage: python scripts/measure_signals.py [--limit N] [--write docs/signals.md]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

import polars as pl

from distillguard.signals.base import Signal
from distillguard.signals.dataset import BENCHMARKS, DatasetSignal
from distillguard.signals.grader import GraderSignal
from distillguard.signals.jailbreak import TEMPLATE_SOURCES, JailbreakSignal
from distillguard.signals.reasoning import ReasoningSignal
from distillguard.signals.rewrite import RewriteSignal
from distillguard.signals.splits import TEMPLATE_TRAIN_PCT, corpus, split_of
from distillguard.signals.synthetic import SyntheticSignal
from distillguard.signals.text import PreparedBatch

FIRE = 0.5
ROOT = Path(__file__).resolve().parents[1]
HELDOUT = ROOT / "tests" / "signals" / "heldout" / "phrasings.tsv"
PHRASE_SIGNALS: dict[str, type[Signal]] = {
    "reasoning": ReasoningSignal,
    "synthetic": SyntheticSignal,
    "grader": GraderSignal,
    "rewrite": RewriteSignal,
    "jailbreak": JailbreakSignal,
}
MARK_BEGIN = "<!-- measure_signals:begin -->"
MARK_END = "<!-- measure_signals:end -->"


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float, float]:
    if n == 0:
        return (math.nan, math.nan, math.nan)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (p, max(0.0, centre - half), min(1.0, centre + half))


def fmt(k: int, n: int) -> str:
    p, lo, hi = wilson(k, n)
    return f"{100 * p:.2f}% [{100 * lo:.2f}, {100 * hi:.2f}] ({k}/{n})"


def scores(signal: Signal, texts: list[str]) -> pl.Series:
    signal.ensure_loaded()
    batch = PreparedBatch.from_events(pl.DataFrame({"distillguard.prompt.text": texts}))
    return signal.score(batch).score


def heldout() -> dict[str, list[tuple[str, str]]]:
    rows: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for line in HELDOUT.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        sig, family, text = line.split("\t", 2)
        rows[sig].append((family, text))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=0, help="cap ShareGPT eval rows (0 = all)")
    ap.add_argument("--write", type=Path, default=None, help="replace the marked block here")
    args = ap.parse_args()
    started = time.perf_counter()
    lines: list[str] = []

    chat = [c.text for c in corpus("sharegpt") if split_of(f"sharegpt:{c.item_id}") == "eval"]
    if args.limit:
        chat = chat[: args.limit]
    # Jailbreak measured with an index/classifier that never saw the eval templates.
    jb_train = {"template_splits": ["train"]}
    production = {name: cls() for name, cls in PHRASE_SIGNALS.items()}
    production["jailbreak"] = JailbreakSignal(**jb_train)
    production["dataset"] = DatasetSignal()

    lines.append(
        f"False-positive rate at score >= {FIRE} on {len(chat)} ShareGPT first turns "
        "(EVALUATION split), and share of turns with any evidence (score > 0):\n"
    )
    lines.append("| signal | FPR (score >= 0.5) [95% CI] | any evidence (score > 0) |")
    lines.append("|---|---|---|")
    for name, signal in production.items():
        s = scores(signal, chat)
        fired = int((s >= FIRE).sum())
        anyev = int((s > 0).sum())
        lines.append(
            f"| {name} | {fmt(fired, len(chat))} | {100 * anyev / max(1, len(chat)):.1f}% |"
        )

    lines.append(
        "\nRecall at score >= 0.5 on held-out phrasings (never read by fitting code). "
        "Seen: all families enabled. Unseen family: the phrasing's own family removed.\n"
    )
    lines.append("| signal | seen families recall [95% CI] | unseen family recall [95% CI] |")
    lines.append("|---|---|---|")
    per_family: list[str] = []
    for name, rows in heldout().items():
        cls = PHRASE_SIGNALS[name]
        base = dict(jb_train) if name == "jailbreak" else {}
        seen = scores(production[name], [t for _, t in rows])
        seen_k = int((seen >= FIRE).sum())
        unseen_k = 0
        for family in sorted({f for f, _ in rows}):
            texts = [t for f, t in rows if f == family]
            held = cls(**base, exclude_families=[family])
            s_seen = scores(production[name], texts)
            s_unseen = scores(held, texts)
            k_seen, k_unseen = int((s_seen >= FIRE).sum()), int((s_unseen >= FIRE).sum())
            unseen_k += k_unseen
            per_family.append(
                f"| {name} | {family} | {k_seen}/{len(texts)} | {k_unseen}/{len(texts)} |"
            )
        lines.append(f"| {name} | {fmt(seen_k, len(rows))} | {fmt(unseen_k, len(rows))} |")

    lines.append("\nPer family (held-out phrasings caught at >= 0.5):\n")
    lines.append("| signal | family | seen | family held out |")
    lines.append("|---|---|---|---|")
    lines.extend(per_family)

    lines.append("\nReal-corpus recall at score >= 0.5:\n")
    lines.append("| signal | test set | recall [95% CI] |")
    lines.append("|---|---|---|")
    templates = {
        src: [
            c.text
            for c in corpus(src)
            if split_of(f"{src}:{c.item_id}", TEMPLATE_TRAIN_PCT) == "eval"
        ]
        for src in TEMPLATE_SOURCES
    }
    all_eval = [t for ts in templates.values() for t in ts]
    s = scores(production["jailbreak"], all_eval)
    lines.append(
        f"| jailbreak | EVAL-split templates, both sources seen in training | "
        f"{fmt(int((s >= FIRE).sum()), len(all_eval))} |"
    )
    clf_only = JailbreakSignal(
        **jb_train,
        exclude_families=[
            "ignore_instructions",
            "persona_unrestricted",
            "dual_response",
            "fictional_wrapper",
        ],
    )
    s = scores(clf_only, all_eval)
    lines.append(
        f"| jailbreak (index + classifier only, no phrases) | same | "
        f"{fmt(int((s >= FIRE).sum()), len(all_eval))} |"
    )
    for src, texts in templates.items():
        held = JailbreakSignal(**jb_train, exclude_sources=[src])
        s = scores(held, texts)
        lines.append(
            f"| jailbreak | {src} EVAL templates, source held out of index + classifier | "
            f"{fmt(int((s >= FIRE).sum()), len(texts))} |"
        )
    airo = [c.text for c in corpus("airoboros")]
    s = scores(production["synthetic"], airo)
    lines.append(
        f"| synthetic | airoboros generator prompts (real; not a pattern source) | "
        f"{fmt(int((s >= FIRE).sum()), len(airo))} |"
    )
    rng = random.Random(7)
    wrapped: list[str] = []
    wrappers = (
        "Please answer the following question and explain your choice.\n\n{q}\n\nRespond in JSON.",
        "{q}\nAnswer:",
        "Q: {q}\nThink carefully, then give the final answer on the last line.",
    )
    for name in BENCHMARKS:
        items = corpus(name)
        for c in rng.sample(list(items), min(200, len(items))):
            wrapped.append(rng.choice(wrappers).format(q=c.text))
    s = scores(production["dataset"], wrapped)
    lines.append(
        f"| dataset | benchmark items (200 per set) inside a wrapper | "
        f"{fmt(int((s >= FIRE).sum()), len(wrapped))} |"
    )

    lines.append(
        f"\n_Measured by `scripts/measure_signals.py` in {time.perf_counter() - started:.0f} s._"
    )
    table = "\n".join(lines)
    print(table)
    if args.write:
        doc = args.write.read_text(encoding="utf-8")
        head, _, rest = doc.partition(MARK_BEGIN)
        _, _, tail = rest.partition(MARK_END)
        args.write.write_text(f"{head}{MARK_BEGIN}\n{table}\n{MARK_END}{tail}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
