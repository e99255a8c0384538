"""Phrase families: the shared matcher behind the reasoning, synthetic, grader, rewrite and
jailbreak signals.

Each family (a YAML file under ``signals/phrases/``) has an id, a plain-words description, a
weight and a list of regular expressions over the normalised, windowed prompt text. A file also
lists ``anchors``: literals of which every pattern needs at least one. One Aho-Corasick pass
(Polars ``str.contains_any``) over the batch selects the candidate rows; only those run the
regexes, one Rust regex per pattern (separate small regexes measured ~10x faster than one
alternation per family, whose automaton overflows the lazy-DFA cache). A file may also name
``terms``: shared vocabularies (e.g. every way to say "your reasoning" in four languages) that
patterns use as ``{{name}}``, so a synonym added once reaches every family. Besides ordered
``patterns``, a family may list ``together`` sets: regexes that must all match inside one
sentence, in any order ("unfiltered" + "your thoughts" + "show"), which survives the word-order
changes of a paraphrase that an ordered pattern misses. The row score is the noisy-or of the
weights of the families that matched, so two independent cues add up but no single weak cue
(``step by step``) crosses the firing threshold on its own.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, ClassVar

import numpy as np
import polars as pl
import yaml

from distillguard.signals.base import Signal, SignalConfigError, SignalScores, combine_evidence
from distillguard.signals.text import PreparedBatch

__all__ = [
    "PhraseFamily",
    "PhraseSignal",
    "ascii_classes",
    "expand_terms",
    "load_families",
    "script_of",
]

log = logging.getLogger(__name__)

_FAMILY_KEYS = {"id", "description", "weight", "patterns", "together"}
_REQUIRED_KEYS = {"id", "description", "weight"}
# Sentence ends (Latin, CJK, Russian and Spanish text), and line breaks.
# Unpunctuated text (video transcripts) is cut into pieces of this length: in a 5,000-character
# "sentence" any set of words co-occurs (seen on ShareGPT training-split transcripts).
SENTENCE_CHARS = 250
_SENTENCE_END = r"[.!?。！？\n]+(?:\s|$)|[。！？\n]"
_FILE_KEYS = {"families", "anchors", "terms"}
_TERM = re.compile(r"\{\{(\w+)\}\}")
_WORD_CLASS = re.compile(r"\\([bw])")


@dataclass(frozen=True)
class PhraseFamily:
    id: str
    description: str
    weight: float
    patterns: tuple[str, ...]
    together: tuple[tuple[str, ...], ...] = ()

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
    if not isinstance(data, dict) or "families" not in data or set(data) - _FILE_KEYS:
        raise SignalConfigError(f"{path}: expected 'families' and optional 'anchors', 'terms'")
    return data


def expand_terms(pattern: str, terms: dict[str, str], where: str) -> str:
    """``{{name}}`` -> ``(?:<terms[name]>)``; terms may use earlier terms."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in terms:
            raise SignalConfigError(f"{where}: unknown term {{{{{m.group(1)}}}}}")
        return f"(?:{terms[m.group(1)]})"

    return _TERM.sub(sub, pattern)


def ascii_classes(pattern: str) -> str:
    """``\\b`` and ``\\w`` as ASCII classes in an all-ASCII (English) pattern.

    Unicode word boundaries keep the regex engine off its lazy DFA on any row with a non-ASCII
    character; ASCII ones measured 3-5x faster on ShareGPT turns. A pattern written only in
    ASCII describes English words, so only its gaps (``(\\w+ ){0,2}``) stop at accented letters.
    """
    return _WORD_CLASS.sub(r"(?-u:\\\1)", pattern) if pattern.isascii() else pattern


@cache
def load_families(name: str) -> tuple[PhraseFamily, ...]:
    """Families from ``signals/phrases/<name>.yaml``; validated, regexes compiled once."""
    path = resources.files("distillguard.signals") / "phrases" / f"{name}.yaml"
    data = _read(name)
    terms: dict[str, str] = {}
    for term, rx in (data.get("terms") or {}).items():
        terms[str(term)] = expand_terms(str(rx), terms, f"{path}: term {term!r}")
    families = []
    for i, raw in enumerate(data["families"]):
        if (
            not isinstance(raw, dict)
            or set(raw) - _FAMILY_KEYS
            or _REQUIRED_KEYS - set(raw)
            or not (raw.get("patterns") or raw.get("together"))
        ):
            raise SignalConfigError(
                f"{path}: family #{i} needs {sorted(_REQUIRED_KEYS)} and 'patterns' or "
                f"'together' (allowed keys: {sorted(_FAMILY_KEYS)})"
            )
        where = f"{path}: family {raw['id']!r}"
        weight = float(raw["weight"])
        if not 0.0 < weight <= 1.0:
            raise SignalConfigError(f"{path}: family {raw['id']!r}: weight must be in (0, 1]")
        family = PhraseFamily(
            id=str(raw["id"]),
            description=str(raw["description"]),
            weight=weight,
            patterns=tuple(
                ascii_classes(expand_terms(str(p), terms, where)) for p in raw.get("patterns") or ()
            ),
            together=tuple(
                tuple(ascii_classes(expand_terms(str(p), terms, where)) for p in group)
                for group in raw.get("together") or ()
            ),
        )
        regexes = [*family.patterns, *(p for g in family.together for p in g)]
        try:  # fail at load with the family's name, not deep inside a batch
            pl.select([pl.lit("x").str.contains(p).alias(str(i)) for i, p in enumerate(regexes)])
        except Exception as exc:
            raise SignalConfigError(f"{path}: family {family.id!r}: bad regex: {exc}") from exc
        families.append(family)
    ids = [f.id for f in families]
    if len(ids) != len(set(ids)):
        raise SignalConfigError(f"{path}: duplicate family ids")
    return tuple(families)


# A regex with Chinese (Russian) letters only matches rows that have some.
_SCRIPTS = {
    "cjk": "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]",
    "cyrillic": "[\u0400-\u04ff]",
}
# family id -> regex sets; a set matches when all its regexes do.
Rules = dict[str, list[tuple[str, ...]]]


def script_of(regexes: tuple[str, ...] | list[str]) -> str | None:
    """The script that a pattern (or a ``together`` set: any of its regexes) needs in the text.

    A regex needs Chinese (Russian) text when it has Chinese (Cyrillic) letters and no Latin
    one outside escapes: ``问答|问题`` does, ``模型|助手|ai`` does not ("ai" matches English).
    """
    for regex in regexes:
        if re.search("[A-Za-z]", re.sub(r"\\.", "", regex)):
            continue
        for name, letters in _SCRIPTS.items():
            if re.search(letters, regex):
                return name
    return None


def _row_hits(views: pl.DataFrame, patterns: Rules) -> dict[str, np.ndarray]:
    """Family id -> rows where one of its patterns matches."""
    if not patterns:
        return {}
    text = pl.col("text")
    frame = views.select(
        pl.any_horizontal([text.str.contains(p) for (p,) in rules]).alias(fid)
        for fid, rules in patterns.items()
    )
    return {fid: frame[fid].to_numpy() for fid in patterns}


def _sentence_hits(views: pl.DataFrame, sets: Rules) -> dict[str, np.ndarray]:
    """Family id -> rows where one sentence matches every regex of one of its sets."""
    if not sets:
        return {}
    # A sentence match implies a row match: narrow the rows one regex at a time (rarest
    # first in the YAML), so most regexes of a set only see the few rows left.
    column = views.get_column("text")
    candidates = np.zeros(views.height, dtype=bool)
    for g in (g for gs in sets.values() for g in gs):
        left = np.arange(views.height)
        for regex in g:
            left = left[column.gather(left).str.contains(regex).to_numpy()]
            if left.size == 0:
                break
        candidates[left] = True
    out = {fid: np.zeros(views.height, dtype=bool) for fid in sets}
    idx = np.flatnonzero(candidates)
    if idx.size == 0:
        return out
    text = pl.col("text")
    sentences = (
        views[idx]
        .select(
            pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"),
            text.str.replace_all(_SENTENCE_END, "\x00").str.extract_all(
                f"[^\\x00]{{1,{SENTENCE_CHARS}}}"
            ),
        )
        .explode("text")
        .drop_nulls("text")
    )
    per_sentence = sentences.select(
        "row",
        *(
            pl.any_horizontal(pl.all_horizontal(text.str.contains(p) for p in g) for g in gs).alias(
                fid
            )
            for fid, gs in sets.items()
        ),
    )
    rows = per_sentence.group_by("row").agg(pl.exclude("row").any())
    positions = idx[rows["row"].to_numpy()]
    for fid in sets:
        out[fid][positions] = rows[fid].to_numpy()
    return out


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

    def family_hits(self, views: pl.DataFrame, *, prefilter: bool = False) -> pl.DataFrame:
        """One boolean column per family over ``views``. With ``prefilter``, a Chinese or
        Russian pattern runs only on the rows written in its script (1-2% of chat traffic)."""
        hits = {f.id: np.zeros(views.height, dtype=bool) for f in self.families}
        # script -> the patterns and sets that only run on rows written in it.
        units: dict[str | None, tuple[Rules, Rules]] = {}
        for f in self.families:
            for p in f.patterns:
                script = script_of([p]) if prefilter else None
                units.setdefault(script, ({}, {}))[0].setdefault(f.id, []).append((p,))
            for g in f.together:
                script = script_of(g) if prefilter else None
                units.setdefault(script, ({}, {}))[1].setdefault(f.id, []).append(g)
        column = views.get_column("text")
        for script, (patterns, sets) in units.items():
            if script is None:
                idx = np.arange(views.height)
            else:
                idx = np.flatnonzero(column.str.contains(_SCRIPTS[script]).to_numpy())
            if idx.size == 0:
                continue
            sub = views if script is None else views[idx]
            found = [*_row_hits(sub, patterns).items(), *_sentence_hits(sub, sets).items()]
            for fid, rows_hit in found:
                hits[fid][idx] |= rows_hit
        return pl.DataFrame(hits)

    def score(self, batch: PreparedBatch) -> SignalScores:
        self.ensure_loaded()
        if not self.families or batch.height == 0:
            return SignalScores.zeros(batch.height)
        idx = self.candidates(batch)
        if idx.len() == 0:
            return SignalScores.zeros(batch.height)
        part = self._noisy_or(self.family_hits(batch.views.select("text")[idx], prefilter=True))
        full = SignalScores.zeros(batch.height)
        return SignalScores.build(
            full.score.scatter(idx, part.score), full.evidence.scatter(idx, part.evidence)
        )

    def score_views(self, views: pl.DataFrame) -> SignalScores:
        """Scores for every row of ``views`` (column ``text``), without any prefilter: the
        reference that the anchor and script prefilters must reproduce (tests check it)."""
        return self._noisy_or(self.family_hits(views))

    def _noisy_or(self, hits: pl.DataFrame) -> SignalScores:
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
