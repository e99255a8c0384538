"""Public dataset membership: does the request contain a known benchmark item?

Benchmark questions sent at volume are a distillation and evaluation-scraping cue, but also
what evaluators legitimately do (THREAT.md), so this is evidence for account-level models,
never a verdict. Exact matches (whole normalised text) score 1; an item embedded in a wrapper
scores by the share of its sentences present (``sentences.SentenceIndex``).
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any, ClassVar

import polars as pl

from distillguard.signals.base import Signal, SignalScores
from distillguard.signals.cache import cache_dir, cache_key
from distillguard.signals.sentences import IndexedItem, SentenceIndex
from distillguard.signals.splits import corpus
from distillguard.signals.text import PreparedBatch

__all__ = ["BENCHMARKS", "DatasetSignal", "dataset_sizes", "open_index"]

log = logging.getLogger(__name__)

BENCHMARKS: tuple[str, ...] = (
    "mmlu", "humaneval", "gsm8k", "gsm8k_multilingual", "asdiv", "logiqa", "medqa", "medmcqa",
    "openbookqa", "commonsenseqa", "truthfulqa", "bigbench", "champ",
)  # fmt: skip
INDEX_VERSION = "2"


def _available(names: tuple[str, ...]) -> tuple[str, ...]:
    try:
        from distillguard.corpora import DATASETS
    except ImportError:
        return ()
    return tuple(n for n in names if n in DATASETS)


@cache
def open_index(names: tuple[str, ...], directory: str | None = None) -> SentenceIndex:
    """Open the cached index of ``names``, building (and caching) it the first time."""
    names = _available(names)
    path = cache_dir(directory) / f"dataset-index-{cache_key(INDEX_VERSION, *names)}"
    if (path / "items.parquet").exists():
        try:
            return SentenceIndex.open(path)
        except (OSError, pl.exceptions.PolarsError) as exc:
            log.warning("dataset index cache at %s unreadable (%s); rebuilding", path, exc)
    items = [IndexedItem(name, c.item_id, c.text) for name in names for c in corpus(name)]
    index = SentenceIndex.build(items)
    try:
        index.save(path)
    except OSError as exc:
        log.warning("cannot cache dataset index at %s: %s", path, exc)
    return index


def dataset_sizes() -> dict[str, int]:
    """Items per indexed dataset (for coverage reports)."""
    return open_index(BENCHMARKS).sizes()


class DatasetSignal(Signal):
    id = "dataset"
    version = "1"
    needs = ("distillguard.prompt.text",)
    description = "request contains an item of a public benchmark dataset (exact or embedded)"
    defaults: ClassVar[dict[str, Any]] = {
        "datasets": list(BENCHMARKS),
        "cache_dir": None,
        # Half of an item's sentences present: a wrapped question keeps all of its own
        # sentences, while two benchmark items rarely share half their sentences by chance.
        "min_containment": 0.5,
    }

    def load(self) -> None:
        self.index = open_index(tuple(self.params["datasets"]), self.params["cache_dir"])
        self._loaded = True

    def score(self, batch: PreparedBatch) -> SignalScores:
        self.ensure_loaded()
        found = self.index.match(batch.column("full"), batch.sentence_keys, batch.exact_keys)
        hit = pl.col("containment") >= float(self.params["min_containment"])
        out = found.select(
            pl.when(hit).then(pl.col("containment")).otherwise(0.0).alias("score"),
            pl.when(hit)
            .then(
                pl.format(
                    "contains item {} of public dataset {} ({})",
                    pl.col("item_id"),
                    pl.col("source"),
                    pl.when(pl.col("is_exact"))
                    .then(pl.lit("exact match"))
                    .otherwise(
                        pl.format(
                            "{}% of its sentences",
                            (pl.col("containment") * 100).round(0).cast(pl.Int64),
                        )
                    ),
                )
            )
            .alias("evidence"),
            pl.when(hit).then(pl.col("source")).alias("dataset.name"),
            pl.when(hit).then(pl.col("item_id")).alias("dataset.item"),
        )
        return SignalScores.build(
            out.get_column("score"),
            out.get_column("evidence"),
            extra=(out.get_column("dataset.name"), out.get_column("dataset.item")),
        )
