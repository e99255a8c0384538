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
from distillguard.signals.memo import PromptMemo, prompt_keys
from distillguard.signals.registry import CONTRACT_IDS, SignalConfig, load_config
from distillguard.signals.template import TemplateClusterer, item_wrapper_templates
from distillguard.signals.text import (
    DeferredBatch,
    PreparedBatch,
    first_occurrences,
    prompt_texts,
)

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
        self._by_id = {s.id: s for s in signals}
        self.memo = PromptMemo()

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

        Pure given the loaded signals (safe to call from several threads). Prompt-only
        signals, the dataset match and the template id are functions of the prompt alone:
        they are computed once per distinct prompt the runner has not seen before
        (:class:`PromptMemo`) and broadcast to every row. Template ids read the dataset
        match of the prompt-only signals.
        """
        n = events.height
        raw = prompt_texts(events)
        dedup = first_occurrences(raw)
        first, inverse = dedup if dedup is not None else (None, None)
        distinct_raw = raw if first is None else raw.gather(first)
        keys = prompt_keys(distinct_raw)
        known, fresh_rows = self.memo.lookup(keys)
        prompt_events = events.select(c for c in (S.PROMPT,) if c in events.columns)
        if first is not None:
            prompt_events = prompt_events.gather(first)
        if known is not None and fresh_rows.len() == 0:  # every prompt seen before
            outputs = known
            template_id = pl.Series("template.id", [], dtype=pl.UInt64)
            skel = pl.Series("skeleton", [], dtype=pl.String)
        else:
            fresh = PreparedBatch.from_prompts(
                prompt_events.gather(fresh_rows), distinct_raw.gather(fresh_rows)
            )
            outputs, template_id, skel = self._prompt_outputs(fresh)
            self.memo.add(keys.gather(fresh_rows), outputs)
            if known is not None and fresh_rows.len() < distinct_raw.len():
                outputs = known.with_columns(
                    known.get_column(c).scatter(fresh_rows, outputs.get_column(c))
                    for c in outputs.columns
                )
        shared = outputs if inverse is None else outputs[inverse]

        batch = DeferredBatch(events)
        key = batch.event_column(S.EVENT_KEY)
        columns: list[pl.Series] = [
            (
                key.cast(pl.String) if key is not None else pl.Series([None] * n, dtype=pl.String)
            ).alias(S.EVENT_KEY)
        ]
        extras: dict[str, pl.Series] = {}
        for sid in self.ids:
            name = f"signal.{sid}"
            if name in shared.columns:
                columns += [shared.get_column(name), shared.get_column(f"{name}.evidence")]
                continue
            signal = self._by_id.get(sid)
            res = signal.score(batch) if signal is not None else SignalScores.zeros(n)
            if res.score.len() != n:
                raise RuntimeError(f"signal {sid!r} returned {res.score.len()} rows for {n}")
            columns.append(res.score.cast(pl.Float32).alias(name))
            columns.append(res.evidence.cast(pl.String).alias(f"{name}.evidence"))
            extras.update({e.name: e for e in res.extra})
        columns.append(shared.get_column("template.id"))
        for name in ("dataset.name", "dataset.item"):
            col = extras.get(name)
            columns.append(
                col.cast(pl.String).alias(name) if col is not None else shared.get_column(name)
            )
        return pl.DataFrame(columns), template_id, skel

    def _prompt_outputs(self, batch: PreparedBatch) -> tuple[pl.DataFrame, pl.Series, pl.Series]:
        """``(outputs, template id, skeleton)`` of the prompt-only signals on ``batch``.

        ``outputs``: ``signal.<id>`` and its evidence per prompt-only signal, ``template.id``
        (wrapped public-dataset items share their wrapper's template: signals/template.py),
        ``dataset.name`` and ``dataset.item``."""
        n = batch.height
        columns: list[pl.Series] = []
        extras: dict[str, pl.Series] = {}
        for signal in self.signals:
            if not _prompt_only(signal):
                continue
            res = signal.score(batch)
            if res.score.len() != n:
                raise RuntimeError(f"signal {signal.id!r} returned {res.score.len()} rows for {n}")
            columns.append(res.score.cast(pl.Float32).alias(f"signal.{signal.id}"))
            columns.append(res.evidence.cast(pl.String).alias(f"signal.{signal.id}.evidence"))
            extras.update({e.name: e for e in res.extra})
        template_id, skel = item_wrapper_templates(
            self.signals, extras.get("dataset.name"), batch.column("full"),
            batch.column("template_id"), batch.column("skeleton"),
        )  # fmt: skip
        columns.append(template_id.alias("template.id"))
        for name in ("dataset.name", "dataset.item"):
            col = extras.get(name)
            columns.append(
                col.cast(pl.String).alias(name)
                if col is not None
                else pl.Series(name, [None] * n, dtype=pl.String)
            )
        return pl.DataFrame(columns), template_id, skel

    def finish(self) -> pl.DataFrame:
        """``template.id`` -> ``template.cluster`` over every batch scored so far.

        Empties the prompt memo: the scan's scoring is over, and what it held would stay
        resident through detection (scoring more batches after this gives the same
        results, from a fresh memo)."""
        self.memo = PromptMemo(self.memo.max_prompts)
        clusters = self.clusterer.clusters()
        if self.config.embedding.get("enabled"):
            from distillguard.signals.embedding import merge_clusters

            clusters = merge_clusters(clusters, self.clusterer, **{
                k: v for k, v in self.config.embedding.items() if k != "enabled"
            })  # fmt: skip
        return clusters
