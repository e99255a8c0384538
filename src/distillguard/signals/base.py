"""The signal contract.

A signal reads a :class:`~distillguard.signals.text.PreparedBatch` and returns, per row, a
score in [0, 1] and the evidence behind it (plain words; null exactly when the score is 0).
Metadata lives on the class: ``id``, ``version``, ``level``, ``needs``, ``description``.
``load()`` does costly setup once (indexes, classifiers); ``score()`` is pure given that state.

A score is evidence, not a verdict: no single request triggers an action. Scores only feed the
per-account and per-network models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import polars as pl

from distillguard.signals.text import PreparedBatch

__all__ = ["Signal", "SignalConfigError", "SignalScores", "combine_evidence"]


class SignalConfigError(ValueError):
    """Bad signal configuration: unknown id, unknown key, wrong type."""


@dataclass(frozen=True)
class SignalScores:
    """Per-row output of one signal. ``extra`` holds additional named columns (dataset ids)."""

    score: pl.Series  # Float32 in [0, 1]
    evidence: pl.Series  # Utf8, null iff score == 0
    extra: tuple[pl.Series, ...] = ()

    def __post_init__(self) -> None:
        if self.score.len() != self.evidence.len():
            raise ValueError("score and evidence lengths differ")

    @classmethod
    def zeros(cls, n: int) -> SignalScores:
        return cls(
            score=pl.Series("score", np.zeros(n, dtype=np.float32)),
            evidence=pl.Series("evidence", [None] * n, dtype=pl.String),
        )

    @classmethod
    def build(
        cls, score: pl.Series, evidence: pl.Series, extra: tuple[pl.Series, ...] = ()
    ) -> SignalScores:
        """Clip, cast and enforce evidence-null-iff-zero."""
        s = score.cast(pl.Float32).fill_null(0.0).fill_nan(0.0).clip(0.0, 1.0)
        frame = pl.DataFrame({"s": s, "e": evidence.cast(pl.String)}).select(
            pl.col("s"),
            pl.when(pl.col("s") > 0)
            .then(pl.col("e").fill_null("matched"))
            .otherwise(None)
            .alias("e"),
        )
        return cls(
            score=frame.get_column("s").alias("score"),
            evidence=frame.get_column("e").alias("evidence"),
            extra=extra,
        )


class Signal:
    """Base class. Subclasses set the metadata and implement :meth:`score`."""

    id: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    level: ClassVar[str] = "request"
    needs: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""
    # Parameter names and defaults; config keys outside this mapping are errors.
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **params: Any) -> None:
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise SignalConfigError(
                f"signal {self.id!r}: unknown parameter(s) {sorted(unknown)}; "
                f"known: {sorted(self.defaults)}"
            )
        self.params: dict[str, Any] = {**self.defaults, **params}
        self._loaded = False

    def load(self) -> None:
        """Costly setup, once. Idempotent."""
        self._loaded = True

    def ensure_loaded(self) -> None:
        if not self._loaded:
            self.load()
            self._loaded = True

    def score(self, batch: PreparedBatch) -> SignalScores:
        raise NotImplementedError


def combine_evidence(parts: list[pl.Expr]) -> pl.Expr:
    """Join non-null evidence strings with '; ' (null when all are null)."""
    joined = pl.concat_str(parts, separator="; ", ignore_nulls=True)
    return pl.when(joined.str.len_chars() > 0).then(joined).otherwise(None)
