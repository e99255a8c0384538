"""Phrase families: the shared matcher behind the reasoning, synthetic, grader, rewrite and
jailbreak signals.

Each family (a YAML file under ``signals/phrases/``) has an id, a plain-words description, a
weight and a list of regular expressions over the normalised, windowed prompt text. A file also
lists ``anchors``: literals of which every pattern needs at least one. One Aho-Corasick pass
(Polars ``str.contains_any``) over the batch selects the candidate rows; only those run the
regexes, one Rust regex per pattern (separate small regexes measured ~10x faster than one
alternation per family, whose automaton overflows the lazy-DFA cache). The row score
is the noisy-or of the weights of the families that matched, so two independent cues add up
but no single weak cue (``step by step``) crosses the firing threshold on its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, ClassVar

import polars as pl
import yaml

from distillguard.signals.base import Signal, SignalConfigError, SignalScores, combine_evidence
from distillguard.signals.text import PreparedBatch

__all__ = ["PhraseFamily", "PhraseSignal", "load_families"]

log = logging.getLogger(__name__)

_FAMILY_KEYS = {"id", "description", "weight", "patterns"}


@dataclass(frozen=True)
class PhraseFamily:
    id: str
    description: str
    weight: float
    patterns: tuple[str, ...]

    @property
    def regex(self) -> str:
        return "|".join(f"(?:{p})" for p in self.patterns)

    @property
    def evidence(self) -> str:
        return f"{self.description} (family: {self.id})"


@cache
def load_anchors(name: str) -> tuple[str, ...]:
    """Prefilter literals of ``signals/phrases/<name>.yaml`` (empty: no prefilter)."""
    data = _read(name)
    return tuple(str(a) for a in data.get("anchors") or ())


def _read(name: str) -> dict[str, Any]:
    path = resources.files("distillguard.signals") / "phrases" / f"{name}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "families" not in data or set(data) - {"families", "anchors"}:
        raise SignalConfigError(f"{path}: expected keys 'families' and optional 'anchors'")
    return data


@cache
def load_families(name: str) -> tuple[PhraseFamily, ...]:
    """Families from ``signals/phrases/<name>.yaml``; validated, regexes compiled once."""
    path = resources.files("distillguard.signals") / "phrases" / f"{name}.yaml"
    data = _read(name)
    families = []
    for i, raw in enumerate(data["families"]):
        if not isinstance(raw, dict) or set(raw) - _FAMILY_KEYS or _FAMILY_KEYS - set(raw):
            raise SignalConfigError(f"{path}: family #{i} must have exactly {sorted(_FAMILY_KEYS)}")
        weight = float(raw["weight"])
        if not 0.0 < weight <= 1.0:
            raise SignalConfigError(f"{path}: family {raw['id']!r}: weight must be in (0, 1]")
        family = PhraseFamily(
            id=str(raw["id"]),
            description=str(raw["description"]),
            weight=weight,
            patterns=tuple(str(p) for p in raw["patterns"]),
        )
        try:  # fail at load with the family's name, not deep inside a batch
            pl.select(
                [pl.lit("x").str.contains(p).alias(str(i)) for i, p in enumerate(family.patterns)]
            )
        except Exception as exc:
            raise SignalConfigError(f"{path}: family {family.id!r}: bad regex: {exc}") from exc
        families.append(family)
    ids = [f.id for f in families]
    if len(ids) != len(set(ids)):
        raise SignalConfigError(f"{path}: duplicate family ids")
    return tuple(families)


class PhraseSignal(Signal):
    """A signal made of phrase families. Subclasses set ``id`` and ``phrase_file``."""

    phrase_file: ClassVar[str] = ""
    needs = ("distillguard.prompt.text",)
    defaults: ClassVar[dict[str, Any]] = {"exclude_families": []}

    def load(self) -> None:
        excluded = set(self.params["exclude_families"])
        families = load_families(self.phrase_file)
        unknown = excluded - {f.id for f in families}
        if unknown:
            raise SignalConfigError(f"signal {self.id!r}: unknown families {sorted(unknown)}")
        self.families = tuple(f for f in families if f.id not in excluded)
        self.anchors = load_anchors(self.phrase_file)
        self._loaded = True

    def candidates(self, batch: PreparedBatch) -> pl.Series:
        """Row indices that contain at least one anchor literal."""
        text = batch.column("text")
        if not self.anchors:
            return pl.Series("idx", range(batch.height), dtype=pl.UInt32)
        return text.str.contains_any(list(self.anchors)).arg_true()

    def family_hits(self, views: pl.DataFrame) -> pl.DataFrame:
        """One boolean column per family over ``views`` (no prefilter)."""
        text = pl.col("text")
        return views.select(
            [
                pl.any_horizontal([text.str.contains(p) for p in f.patterns]).alias(f.id)
                for f in self.families
            ]
        )

    def score(self, batch: PreparedBatch) -> SignalScores:
        self.ensure_loaded()
        if not self.families or batch.height == 0:
            return SignalScores.zeros(batch.height)
        idx = self.candidates(batch)
        if idx.len() == 0:
            return SignalScores.zeros(batch.height)
        part = self.score_views(batch.views.select("text")[idx])
        full = SignalScores.zeros(batch.height)
        return SignalScores.build(
            full.score.scatter(idx, part.score), full.evidence.scatter(idx, part.evidence)
        )

    def score_views(self, views: pl.DataFrame) -> SignalScores:
        """Scores for every row of ``views`` (column ``text``), without the anchor prefilter."""
        hits = self.family_hits(views)
        # Noisy-or: 1 - prod(1 - w_f) over matched families.
        miss = pl.lit(1.0)
        for f in self.families:
            miss = miss * pl.when(pl.col(f.id)).then(1.0 - f.weight).otherwise(1.0)
        # Strongest family first in the evidence.
        ordered = sorted(self.families, key=lambda f: -f.weight)
        evidence = combine_evidence(
            [pl.when(pl.col(f.id)).then(pl.lit(f.evidence)).otherwise(None) for f in ordered]
        )
        out = hits.select((1.0 - miss).alias("score"), evidence.alias("evidence"))
        return SignalScores.build(out.get_column("score"), out.get_column("evidence"))
