"""SignalRunner: scores event batches with every enabled signal (the signal output contract).

``score_batch(events)`` returns one row per event, in order: ``distillguard.event.key``, then
for each signal ``signal.<id>`` (Float32 in [0, 1]) and ``signal.<id>.evidence`` (Utf8, null
when the score is 0), then ``template.id`` (UInt64), ``dataset.name``, ``dataset.item`` (Utf8).
Disabled built-in signals still emit their columns (zeros, null evidence) so the frame shape
never depends on config. ``finish()`` maps every ``template.id`` seen to ``template.cluster``.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl

from distillguard import schema as S
from distillguard.signals.base import Signal, SignalScores
from distillguard.signals.registry import CONTRACT_IDS, SignalConfig, load_config
from distillguard.signals.template import TemplateClusterer, item_wrapper_templates
from distillguard.signals.text import PreparedBatch

__all__ = ["SignalRunner", "default_workers", "score_columns"]

log = logging.getLogger(__name__)


def score_columns(ids: tuple[str, ...] = CONTRACT_IDS) -> list[str]:
    cols = [S.EVENT_KEY]
    for sid in ids:
        cols += [f"signal.{sid}", f"signal.{sid}.evidence"]
    return [*cols, "template.id", "dataset.name", "dataset.item"]


def default_workers() -> int:
    """Scoring threads: ``$DISTILLGUARD_SIGNAL_WORKERS``, else the CPUs this process may use
    (at most 8)."""
    env = os.environ.get("DISTILLGUARD_SIGNAL_WORKERS")
    if env:
        return max(1, int(env))
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


def _prompt_only(signal: Signal) -> bool:
    """True when the signal declares that it reads the prompt text and nothing else."""
    return tuple(signal.needs) == (S.PROMPT,)


class SignalRunner:
    """Holds loaded signals (costly state, loaded once) and the template clusterer of one scan."""

    def __init__(self, signals: list[Signal], config: SignalConfig) -> None:
        self.signals = signals
        self.config = config
        self.clusterer = TemplateClusterer(**config.template)
        self.ids = tuple(dict.fromkeys([*CONTRACT_IDS, *(s.id for s in signals)]))

    @classmethod
    def from_config(cls, config: str | Path | dict[str, Any] | SignalConfig | None) -> SignalRunner:
        cfg = config if isinstance(config, SignalConfig) else load_config(config)
        signals = cfg.build()
        for signal in signals:
            signal.ensure_loaded()
        log.info("signal runner: %s", ", ".join(s.id for s in signals))
        return cls(signals, cfg)

    def score_batch(self, events: pl.DataFrame) -> pl.DataFrame:
        frame, template_id, skel = self._score(events)
        self.clusterer.update(template_id, skel)
        return frame

    def score_batches(
        self, batches: Iterable[pl.DataFrame], *, workers: int | None = None
    ) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
        """``(events, scores)`` per batch, in input order, scored by ``workers`` threads.

        Scoring is pure given the loaded signals and spends its time in Polars/Arrow kernels
        that release the GIL, so threads use every core; the template clusterer is updated
        in input order, so the result is the same as calling :meth:`score_batch` in a loop.
        At most ``workers + 1`` batches are in flight.
        """
        workers = workers if workers is not None else default_workers()
        if workers <= 1:
            for events in batches:
                yield events, self.score_batch(events)
            return
        pending: deque[tuple[pl.DataFrame, Future[tuple[pl.DataFrame, pl.Series, pl.Series]]]]
        pending = deque()
        with ThreadPoolExecutor(workers, thread_name_prefix="signals") as pool:
            try:
                for events in batches:
                    pending.append((events, pool.submit(self._score, events)))
                    if len(pending) > workers:
                        yield self._collect(*pending.popleft())
                while pending:
                    yield self._collect(*pending.popleft())
            finally:
                for _, future in pending:
                    future.cancel()

    def _collect(
        self, events: pl.DataFrame, future: Future[tuple[pl.DataFrame, pl.Series, pl.Series]]
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        frame, template_id, skel = future.result()
        self.clusterer.update(template_id, skel)
        return events, frame

    def _score(self, events: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series, pl.Series]:
        """Scores of one batch plus the (template id, skeleton) pairs for the clusterer.

        Pure given the loaded signals (safe to call from several threads)."""
        # Prompt-only signals score each distinct prompt once; their outputs are broadcast
        # back to every row (a batch of traffic repeats prompts, templates and benchmark items).
        batch, distinct, inverse = PreparedBatch.deduplicated(events, (S.PROMPT,))
        n = batch.height
        key = batch.event_column(S.EVENT_KEY)
        columns: list[pl.Series] = [
            (
                key.cast(pl.String) if key is not None else pl.Series([None] * n, dtype=pl.String)
            ).alias(S.EVENT_KEY)
        ]
        results: dict[str, SignalScores] = {}
        distinct_extras: dict[str, pl.Series] = {}
        for signal in self.signals:
            if inverse is not None and _prompt_only(signal):
                res = signal.score(distinct)
                if res.score.len() != distinct.height:
                    raise RuntimeError(
                        f"signal {signal.id!r} returned {res.score.len()} rows for "
                        f"{distinct.height}"
                    )
                distinct_extras.update({e.name: e for e in res.extra})
                res = SignalScores(
                    res.score.gather(inverse),
                    res.evidence.gather(inverse),
                    tuple(e.gather(inverse) for e in res.extra),
                )
            else:
                res = signal.score(batch)
            results[signal.id] = res
        extras: dict[str, pl.Series] = {}
        for sid in self.ids:
            res = results.get(sid) or SignalScores.zeros(n)
            if res.score.len() != n:
                raise RuntimeError(f"signal {sid!r} returned {res.score.len()} rows for {n}")
            columns.append(res.score.cast(pl.Float32).alias(f"signal.{sid}"))
            columns.append(res.evidence.cast(pl.String).alias(f"signal.{sid}.evidence"))
            extras.update({e.name: e for e in res.extra})
        # Wrapped public-dataset items share their wrapper's template (signals/template.py).
        # A function of the prompt alone: computed on distinct prompts when dataset.name is.
        if inverse is not None and "dataset.name" in distinct_extras:
            template_id, skel = item_wrapper_templates(
                self.signals, distinct_extras.get("dataset.name"), distinct.column("full"),
                distinct.column("template_id"), distinct.column("skeleton"),
            )  # fmt: skip
            # The clusterer keeps the first skeleton per id: distinct prompts in first-seen
            # order give it the same ids, skeletons and order as the whole batch.
            update = (template_id, skel)
            template_id = template_id.gather(inverse)
        else:
            template_id, skel = item_wrapper_templates(
                self.signals, extras.get("dataset.name"), batch.column("full"),
                batch.column("template_id"), batch.column("skeleton"),
            )  # fmt: skip
            update = (template_id, skel)
        columns.append(template_id.alias("template.id"))
        for name in ("dataset.name", "dataset.item"):
            col = extras.get(name)
            columns.append(
                col.cast(pl.String).alias(name)
                if col is not None
                else pl.Series(name, [None] * n, dtype=pl.String)
            )
        return pl.DataFrame(columns), *update

    def finish(self) -> pl.DataFrame:
        """``template.id`` -> ``template.cluster`` over every batch scored so far."""
        clusters = self.clusterer.clusters()
        if self.config.embedding.get("enabled"):
            from distillguard.signals.embedding import merge_clusters

            clusters = merge_clusters(clusters, self.clusterer, **{
                k: v for k, v in self.config.embedding.items() if k != "enabled"
            })  # fmt: skip
        return clusters
