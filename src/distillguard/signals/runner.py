"""SignalRunner: scores event batches with every enabled signal (the signal output contract).

``score_batch(events)`` returns one row per event, in order: ``distillguard.event.key``, then
for each signal ``signal.<id>`` (Float32 in [0, 1]) and ``signal.<id>.evidence`` (Utf8, null
when the score is 0), then ``template.id`` (UInt64), ``dataset.name``, ``dataset.item`` (Utf8).
Disabled built-in signals still emit their columns (zeros, null evidence) so the frame shape
never depends on config. ``finish()`` maps every ``template.id`` seen to ``template.cluster``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import polars as pl

from distillguard import schema as S
from distillguard.signals.base import Signal, SignalScores
from distillguard.signals.registry import CONTRACT_IDS, SignalConfig, load_config
from distillguard.signals.template import TemplateClusterer
from distillguard.signals.text import PreparedBatch

__all__ = ["SignalRunner", "score_columns"]

log = logging.getLogger(__name__)


def score_columns(ids: tuple[str, ...] = CONTRACT_IDS) -> list[str]:
    cols = [S.EVENT_KEY]
    for sid in ids:
        cols += [f"signal.{sid}", f"signal.{sid}.evidence"]
    return [*cols, "template.id", "dataset.name", "dataset.item"]


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
        batch = PreparedBatch.from_events(events)
        n = batch.height
        key = batch.event_column(S.EVENT_KEY)
        columns: list[pl.Series] = [
            (
                key.cast(pl.String) if key is not None else pl.Series([None] * n, dtype=pl.String)
            ).alias(S.EVENT_KEY)
        ]
        results: dict[str, SignalScores] = {s.id: s.score(batch) for s in self.signals}
        extras: dict[str, pl.Series] = {}
        for sid in self.ids:
            res = results.get(sid) or SignalScores.zeros(n)
            if res.score.len() != n:
                raise RuntimeError(f"signal {sid!r} returned {res.score.len()} rows for {n}")
            columns.append(res.score.cast(pl.Float32).alias(f"signal.{sid}"))
            columns.append(res.evidence.cast(pl.String).alias(f"signal.{sid}.evidence"))
            extras.update({e.name: e for e in res.extra})
        template_id = batch.column("template_id").cast(pl.UInt64)
        columns.append(template_id.alias("template.id"))
        for name in ("dataset.name", "dataset.item"):
            col = extras.get(name)
            columns.append(
                col.cast(pl.String).alias(name)
                if col is not None
                else pl.Series(name, [None] * n, dtype=pl.String)
            )
        self.clusterer.update(template_id, batch.column("skeleton"))
        return pl.DataFrame(columns)

    def finish(self) -> pl.DataFrame:
        """``template.id`` -> ``template.cluster`` over every batch scored so far."""
        clusters = self.clusterer.clusters()
        if self.config.embedding.get("enabled"):
            from distillguard.signals.embedding import merge_clusters

            clusters = merge_clusters(clusters, self.clusterer, **{
                k: v for k, v in self.config.embedding.items() if k != "enabled"
            })  # fmt: skip
        return clusters
