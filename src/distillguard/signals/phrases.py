"""Phrase families: the shared matcher behind the reasoning, synthetic, grader, rewrite and
jailbreak signals.

Each family (a YAML file under ``signals/phrases/``) has an id, a plain-words description, a
weight and a list of regular expressions over the normalised, windowed prompt text. A file also
lists ``anchors``: common literals, and at load ``candidate_literals`` adds, for every pattern or
set that none of them covers, literals its regexes need, so the anchors never hide a match. One
Aho-Corasick pass (Polars ``str.contains_any``) over the batch selects the candidate rows (a row
without a candidate literal scores 0). A second pass (``str.extract_many``) lists the literals
each candidate row holds; the literals each regex needs are read off its syntax tree at load
(``required_literals``), so a regex runs only on the rows that hold them: a few percent of the
(row, regex) pairs, all in one call (Polars caches a compiled regex while consecutive pairs
share it). Separate small regexes measured ~10x faster than one alternation per family, whose
automaton overflows the lazy-DFA cache. A file may also name ``terms``: shared vocabularies
(e.g. every way to say "your reasoning" in four languages) that patterns use as ``{{name}}``,
so a synonym added once reaches every family. Besides ordered
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
from re import _constants as sre_c  # type: ignore[attr-defined]  # stdlib regex parser
from re import _parser as sre_parse  # type: ignore[attr-defined]
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
    "candidate_literals",
    "expand_terms",
    "load_families",
    "required_literals",
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
    """Declared prefilter literals of ``signals/phrases/<name>.yaml``: a hint, not a promise
    (``candidate_literals`` adds what the patterns need and they miss)."""
    data = _read(name)
    return tuple(str(a) for a in data.get("anchors") or ())


def candidate_literals(
    families: tuple[PhraseFamily, ...], anchors: tuple[str, ...], where: str = "phrases"
) -> tuple[str, ...]:
    """Literals of which every match of every rule holds one: a row without any of them
    scores 0. The declared ``anchors``, plus, for each rule (a pattern, or a ``together`` set)
    that no anchor covers, the literals of one set that one of its regexes needs that no anchor
    covers yet (a literal is covered when it contains an anchor).

    The hand-written anchors alone left 39 reasoning, 32 synthetic, 6 grader and 16 jailbreak
    rules uncovered (``Покажи сырые токены``, ``写50道不重复``): on 60k texts the live path scored
    0 on 84 reasoning and 24 synthetic rows that every regex on every row fired on. A rule from
    which no literal can be read would make every row a candidate, so it is rejected, by name.
    """
    chosen = list(dict.fromkeys(anchors))
    rules: list[tuple[str, tuple[str, ...]]] = [(f.id, (p,)) for f in families for p in f.patterns]
    rules += [(f.id, g) for f in families for g in f.together]
    for family, regexes in rules:
        sets = [s for rx in regexes for s in required_literals(rx)]
        if not sets:
            raise SignalConfigError(
                f"{where}: family {family!r}: no literal that every match must contain could be "
                f"read from {list(regexes)!r}; the candidate prefilter needs one (a literal in "
                "every alternative, not optional, without (?i) or Rust-only class syntax)"
            )
        missing = [sorted(x for x in s if not any(a in x for a in chosen)) for s in sets]
        if all(missing):
            chosen += sorted(missing, key=_rarity)[0]
    return tuple(chosen)


def _rarity(literals: list[str]) -> tuple[int, int]:
    """Sort key, rarest first: the shortest literal's weight (bytes without spaces, markup
    characters twice: ``<cot>`` is rarer than ``answer``), capped at 6, then the fewest literals.
    Plain length picked ``{for , to }`` for a training pattern (half the ShareGPT rows) and
    ``which `` for a pairwise one (10%); with the cap, ``<cot>`` alone, the one tag no anchor
    covers, beats ``answer``, ``output`` and ``response``."""
    return -min(6, *map(_weight, literals)), len(literals)


def _weight(literal: str) -> int:
    return sum(
        2 if c.isascii() and not c.isalnum() else len(c.encode()) for c in literal if c != " "
    )


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


# Regex syntax that Python's parser reads differently from Rust's (class set operations, nested
# classes): such a regex gets no literals rather than wrong ones.
_RUST_ONLY = re.compile(r"--|&&|~~|(?<!\\)\[[\[:]")
# Strings in one cross product of literal alternatives ("(your|the) (thoughts|reasoning)").
_MAX_EXACT = 64

# (exact, needs) of a part of a regex. exact: every string the part matches, when that is a
# small set of literals (else None). needs: literal sets such that every match of the part
# holds one literal of each set.
_Needs = tuple[frozenset[str], ...]
_Literals = tuple[set[str] | None, _Needs]


def required_literals(regex: str) -> _Needs:
    """Literal sets such that every match of ``regex`` holds one literal of each set (most
    selective first); () when none is known.

    Read off the syntax tree (Python's parser, after rewriting the Rust-only ``\\x{..}`` and
    ``(?-u:..)`` of this file's patterns): a concatenation needs what each of its parts needs,
    an alternation the union of one set per branch, an optional part nothing. Anything
    unfamiliar gives (), and the regex then runs on every candidate row.
    """
    if _RUST_ONLY.search(regex):
        return ()
    py = re.sub(r"\(\?-u:(\\[bw])\)", r"\1", regex)
    py = re.sub(r"\\x\{([0-9a-fA-F]+)\}", lambda m: re.escape(chr(int(m.group(1), 16))), py)
    try:
        parsed = sre_parse.parse(py)
        if parsed.state.flags & ~re.UNICODE:  # (?i) and the like change what a literal matches
            return ()
        return _sequence_literals(parsed)[1]
    except (re.error, ValueError):
        return ()


def _selective(options: list[frozenset[str]]) -> _Needs:
    """Sets whose shortest literal is longest first (then the smaller set); no empty literal."""
    sets = {s for s in options if s and "" not in s}
    return tuple(sorted(sets, key=lambda s: (-min(len(x.encode()) for x in s), len(s), sorted(s))))


def _sequence_literals(items: Any) -> _Literals:
    run: set[str] = {""}  # literal strings of the parts read since the last gap
    options: list[frozenset[str]] = []
    exact = True
    for op, arg in items:
        part, needs = _part_literals(op, arg)
        if part is not None and len(run) * len(part) <= _MAX_EXACT:
            run = {a + b for a in run for b in part}
            continue
        exact = False
        options += [frozenset(run), *needs]
        run = part if part is not None else {""}
    options.append(frozenset(run))
    return (run if exact else None), _selective(options)


def _part_literals(op: Any, arg: Any) -> _Literals:
    if op is sre_c.LITERAL:
        return {chr(arg)}, (frozenset({chr(arg)}),)
    if op is sre_c.AT:  # \b, ^, $: zero-width, the literals around it stay adjacent
        return {""}, ()
    if op is sre_c.SUBPATTERN:
        if arg[1] or arg[2]:
            raise ValueError("inline flags")
        return _sequence_literals(arg[3])
    if op is sre_c.BRANCH:
        branches = [_sequence_literals(b) for b in arg[1]]
        strings = [e for e, _ in branches if e is not None]
        firsts = [n[0] for _, n in branches if n]
        return (
            set().union(*strings) if len(strings) == len(branches) else None,
            (frozenset().union(*firsts),) if len(firsts) == len(branches) else (),
        )
    if op is sre_c.IN and all(o is sre_c.LITERAL for o, _ in arg):  # [- ], or a|b folded
        chars = {chr(c) for _, c in arg}
        return chars, (frozenset(chars),)
    if op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT):
        low, high, sub = arg
        if low == 0:
            return None, ()
        exact, needs = _sequence_literals(sub)
        return (exact if low == high == 1 else None), needs
    if op in (sre_c.IN, sre_c.ANY, sre_c.NOT_LITERAL, sre_c.CATEGORY):
        return None, ()
    raise ValueError(f"unsupported regex node {op}")


def _sentences(text: pl.Series) -> pl.DataFrame:
    """``row`` (position in ``text``) and ``text`` of each sentence of each row."""
    return (
        pl.DataFrame({"text": text})
        .select(
            pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"),
            pl.col("text")
            .str.replace_all(_SENTENCE_END, "\x00")
            .str.extract_all(f"[^\\x00]{{1,{SENTENCE_CHARS}}}"),
        )
        .explode("text")
        .drop_nulls("text")
    )


def _reference_hits(views: pl.DataFrame, families: tuple[PhraseFamily, ...]) -> pl.DataFrame:
    """One boolean column per family: every regex on every row (and sentence), no prefilter."""
    text = pl.col("text")
    rows = views.select(
        pl.any_horizontal(False, *(text.str.contains(p) for p in f.patterns)).alias(f.id)
        for f in families
    )
    sets = [f for f in families if f.together]
    if not sets:
        return rows
    per_sentence = _sentences(views.get_column("text")).select(
        "row",
        *(
            pl.any_horizontal(
                pl.all_horizontal(text.str.contains(p) for p in g) for g in f.together
            ).alias(f.id)
            for f in sets
        ),
    )
    found = per_sentence.group_by("row").agg(pl.exclude("row").any())
    in_sentence = (
        pl.DataFrame({"row": pl.int_range(views.height, dtype=pl.UInt32, eager=True)})
        .join(found, on="row", how="left")
        .fill_null(False)
    )
    return rows.with_columns(rows[f.id] | in_sentence[f.id] for f in sets)


def _all_of(pairs: pl.DataFrame, parts: pl.DataFrame, part: str, whole: str) -> pl.DataFrame:
    """``row``, ``whole`` and the other columns of ``parts`` where the ``pairs`` (row, part)
    hold every part of the whole. ``parts``: one row per (whole, part), with ``size``, the
    number of parts of the whole."""
    return (
        pairs.unique()
        .join(parts, on=part)
        .group_by("row", whole)
        .agg(pl.len(), pl.exclude(part).first())
        .filter(pl.col("len") == pl.col("size"))
        .drop("len", "size")
    )


@dataclass(frozen=True)
class _Plan:
    """The families as tables: the regexes of each rule (a pattern, or a set that must match
    in one sentence) and the literals of which each regex needs one."""

    families: tuple[PhraseFamily, ...]
    regexes: pl.Series  # position = regex id (rx)
    literals: list[str]
    needs: pl.DataFrame  # literal, rx: every match of the regex holds one of its literals
    free: pl.Series  # the regexes that need no known literal: they run on every row
    rules: pl.DataFrame  # rule, rx, size (its distinct regexes), family, sentence

    @classmethod
    def build(cls, families: tuple[PhraseFamily, ...]) -> _Plan:
        ids: dict[str, int] = {}
        rules: list[tuple[int, int, int, str, bool]] = []
        units: list[tuple[str, tuple[str, ...], bool]]
        units = [(f.id, (p,), False) for f in families for p in f.patterns]
        units += [(f.id, g, True) for f in families for g in f.together]
        for rule, (family, regexes, sentence) in enumerate(units):
            rxs = {ids.setdefault(r, len(ids)) for r in regexes}
            rules += [(rule, rx, len(rxs), family, sentence) for rx in sorted(rxs)]
        # The most selective set only: a second one measured no faster (the tables grow).
        sets = {rx: required_literals(r)[:1] for r, rx in ids.items()}
        needs = [(lit, rx) for rx, rx_sets in sets.items() for lits in rx_sets for lit in lits]
        u32 = pl.UInt32
        return cls(
            families=families,
            regexes=pl.Series("regex", list(ids), dtype=pl.String),
            literals=sorted({lit for lit, _ in needs}),
            needs=pl.DataFrame(needs, schema={"literal": pl.String, "rx": u32}, orient="row"),
            free=pl.Series("rx", [rx for rx, rx_sets in sets.items() if not rx_sets], u32),
            rules=pl.DataFrame(
                rules,
                schema={
                    "rule": u32,
                    "rx": u32,
                    "size": u32,
                    "family": pl.String,
                    "sentence": pl.Boolean,
                },
                orient="row",
            ),
        )

    def family_hits(self, text: pl.Series) -> pl.DataFrame:
        """One boolean column per family over ``text``."""
        found = self._hits(text)
        return pl.DataFrame(
            {
                f.id: pl.Series(np.zeros(text.len(), dtype=bool)).scatter(
                    found.filter(pl.col("family") == f.id).get_column("row"), True
                )
                for f in self.families
            }
        )

    def _hits(self, text: pl.Series) -> pl.DataFrame:
        """``row``, ``family``: the rows of ``text`` on which a family matches."""
        # One Aho-Corasick pass: which literals each row holds, hence which regexes can match.
        held = (
            text.str.extract_many(self.literals, overlapping=True).list.unique()
            if self.literals
            else pl.Series(dtype=pl.List(pl.String)).extend_constant(None, text.len())
        )
        found = (
            pl.DataFrame({"literal": held})
            .with_row_index("row")
            .explode("literal")
            .drop_nulls()
            .join(self.needs, on="literal")
            .select("row", "rx")
        )
        if self.free.len():
            every = pl.DataFrame({"row": pl.int_range(text.len(), dtype=pl.UInt32, eager=True)})
            found = pl.concat([found, every.join(self.free.to_frame(), how="cross")])
        may = _all_of(found, self.rules, "rx", "rule")  # each regex of a rule may match
        pairs = may.select("row", "rule").join(self.rules.select("rule", "rx"), on="rule")
        matched = self._matches(text, pairs.select("row", "rx").unique())
        hits = _all_of(matched, self.rules, "rx", "rule")
        on_row = hits.filter(~pl.col("sentence")).select("row", "family")
        in_rows = hits.filter("sentence").select("row", "rule")
        if in_rows.height == 0:
            return on_row
        return pl.concat([on_row, self._sentence_hits(text, in_rows)])

    def _matches(self, text: pl.Series, pairs: pl.DataFrame) -> pl.DataFrame:
        """The ``pairs`` (row, rx) whose regex matches ``text[row]``."""
        # Sorted by regex, consecutive pairs reuse one compiled regex (Polars caches them).
        pairs = pairs.sort("rx", "row")
        texts = pl.DataFrame(
            {
                "text": text.gather(pairs.get_column("row")),
                "regex": self.regexes.gather(pairs.get_column("rx")),
            }
        )
        return pairs.filter(texts.select(pl.col("text").str.contains(pl.col("regex"))).to_series())

    def _sentence_hits(self, text: pl.Series, rules: pl.DataFrame) -> pl.DataFrame:
        """``row``, ``family`` where one sentence of the row matches every regex of one of the
        sets ``rules`` (row, rule) names for it."""
        rows = rules.get_column("row").unique().sort()
        sentences = _sentences(text.gather(rows))
        # Sentence ids stand in for rows while matching; ``of`` maps them back.
        of = pl.DataFrame(
            {"id": pl.int_range(sentences.height, dtype=pl.UInt32, eager=True),
             "of": rows.gather(sentences.get_column("row"))}
        )  # fmt: skip
        pairs = (
            of.join(rules, left_on="of", right_on="row")
            .join(self.rules.select("rule", "rx"), on="rule")
            .select(pl.col("id").alias("row"), "rx")
            .unique()
        )
        found = _all_of(
            self._matches(sentences.get_column("text"), pairs), self.rules, "rx", "rule"
        )
        return (
            found.filter("sentence")
            .join(of, left_on="row", right_on="id")
            .select(pl.col("of").alias("row"), "family")
        )


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
        self.anchors = candidate_literals(
            self.families, load_anchors(self.phrase_file), f"{self.phrase_file}.yaml"
        )
        self._plan = _Plan.build(self.families)
        self._loaded = True

    def candidates(self, batch: PreparedBatch) -> pl.Series:
        """Row indices that hold one of the candidate literals (no other row can match)."""
        return batch.column("text").str.contains_any(list(self.anchors)).arg_true()

    def family_hits(self, text: pl.Series) -> pl.DataFrame:
        """One boolean column per family over ``text``: each regex runs only on the rows that
        hold the literals it needs, and a set's sentences only where the row matches the set."""
        return self._plan.family_hits(text)

    def score(self, batch: PreparedBatch) -> SignalScores:
        self.ensure_loaded()
        if not self.families or batch.height == 0:
            return SignalScores.zeros(batch.height)
        idx = self.candidates(batch)
        if idx.len() == 0:
            return SignalScores.zeros(batch.height)
        part = self._noisy_or(self.family_hits(batch.column("text").gather(idx)))
        full = SignalScores.zeros(batch.height)
        return SignalScores.build(
            full.score.scatter(idx, part.score), full.evidence.scatter(idx, part.evidence)
        )

    def score_views(self, views: pl.DataFrame) -> SignalScores:
        """Scores for every row of ``views`` (column ``text``) with every regex on every row:
        the reference that the anchor and literal prefilters must reproduce (tests check it)."""
        self.ensure_loaded()
        return self._noisy_or(_reference_hits(views, self.families))

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
