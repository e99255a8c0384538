"""PreparedBatch: the costly text work, done once per batch and read by every signal.

Like Presidio's ``NlpArtifacts``: normalisation, masking and hashing happen here, and each
signal only reads the prepared columns. Everything is vectorised over the batch with Polars
expressions; per-row Python runs only for the rare rows that need it (prompt derived from
message JSON, mixed-script words, letter-spaced evasion).
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any

import numpy as np
import orjson
import polars as pl

from distillguard import schema as S

__all__ = [
    "WINDOW_HEAD",
    "WINDOW_TAIL",
    "DeferredBatch",
    "PreparedBatch",
    "copied",
    "first_occurrences",
    "normalise",
    "prompt_texts",
]

log = logging.getLogger(__name__)

# Phrase signals read a bounded window: instructions sit at the start or the end of a prompt
# (jailbreak wrappers, "answer in JSON" trailers), so a 5 MB paste costs no more than 6 kB.
WINDOW_HEAD = 4000
WINDOW_TAIL = 2000
SKELETON_CHARS = 2000

# Zero-width, soft hyphen, bidi controls, BOM, tag characters: invisible in a UI, used to split
# trigger words so naive matchers miss them.
_INVISIBLE = (
    r"[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e"
    r"\u2060-\u206f\ufeff\ufe00-\ufe0f]|[\U000e0000-\U000e007f]"
)

# Cyrillic and Greek letters that render like Latin ones. Folded only inside words that mix
# scripts (or in mostly-Latin rows), so Russian and Greek text keeps its own letters.
_CONFUSABLES = {
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d",
    "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "ɡ": "g",
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "γ": "y", "ω": "w", "ϲ": "c", "ѵ": "v",
}  # fmt: skip
_CONFUSABLE_CLASS = "[" + "".join(_CONFUSABLES) + "]"
_MIXED_SCRIPT = f"[a-z]{_CONFUSABLE_CLASS}|{_CONFUSABLE_CLASS}[a-z]"
_WORD_RE = re.compile(r"\w+")
_LATIN_RE = re.compile(r"[a-z]")
_CYR_GREEK_RE = re.compile(r"[\u0370-\u03ff\u0400-\u04ff]")
_TRANS = str.maketrans(_CONFUSABLES)
# "s t e p  b y  s t e p": four or more single letters separated by single spaces.
_SPACED = r"(?:^|\s)(?:\w[ ._\-*]){3,}\w(?:\s|$)"
_SPACED_JOIN = re.compile(r"(?<=\b\w)[ ._\-*](?=\w\b)")

_MASKS: tuple[tuple[str, str], ...] = (
    (r"(?s)```.*?(?:```|$)", " <code> "),
    (r"https?://\S+|www\.\S+", " <url> "),
    (r"[\w.+-]+@[\w-]+\.[\w.-]+", " <email> "),
    (r"\"[^\"\n]{1,400}\"|“[^”\n]{1,400}”|«[^»\n]{1,400}»|「[^」\n]{1,400}」", " <q> "),
    (r"'[^'\n]{3,400}'", " <q> "),
)
# Capitalised token not at a sentence start: a name, a place, a product. Run twice because
# replace_all does not overlap ("John Smith").
_NAME = (r"([^.!?\s:]\s+)\p{Lu}[\p{Ll}'\-]+", "${1}<name>")
_NUMBER = (r"\d+(?:[.,:/]\d+)*", "<n>")


def _fold_row(text: str) -> str:
    """Fold confusables in mixed-script words; in mostly-Latin rows fold every confusable."""
    latin = len(_LATIN_RE.findall(text))
    other = len(_CYR_GREEK_RE.findall(text))
    if latin > 4 * other:
        return text.translate(_TRANS)

    def fold(m: re.Match[str]) -> str:
        w = m.group(0)
        if _LATIN_RE.search(w) and _CYR_GREEK_RE.search(w):
            return w.translate(_TRANS)
        return w

    return _WORD_RE.sub(fold, text)


def _despace_row(text: str) -> str:
    return _SPACED_JOIN.sub("", text)


# Characters NFKC can change: Latin-1 symbols, spacing modifiers, combining marks, compatibility
# punctuation and spaces, letterlike and enclosed forms, CJK compatibility, ligatures,
# presentation forms, full-width forms, mathematical alphanumerics. Curly quotes, dashes, CJK
# ideographs, Cyrillic and precomposed accented letters are NFKC-stable, so the many rows that
# only carry those skip the (costly) normalisation.
_NFKC_CAN_CHANGE = (
    r"[\u00a0-\u00bf\u02b0-\u036f\u2000-\u200f\u2024-\u2026\u2028-\u2bff\u3000-\u33ff"
    r"\uf900-\ufaff\ufb00-\ufdff\ufe10-\ufe6f\ufe70-\ufeff\uff00-\uffef"
    r"\U0001d400-\U0001d7ff\U0001f100-\U0001f1ff\p{M}]"
)


def _nfkc(text: pl.Series) -> pl.Series:
    """NFKC only where it can change something."""
    non_ascii = text.str.contains(_NFKC_CAN_CHANGE)
    if not non_ascii.any():
        return text
    idx = non_ascii.arg_true()
    return text.scatter(idx, text.gather(idx).str.normalize("NFKC"))


def _collapse_spaces(text: pl.Series) -> pl.Series:
    # Matching only runs and non-space whitespace is ~5x cheaper than rewriting every space.
    return text.str.replace_all(r"[^\S ]+|  +", " ").str.replace_all(r"  +", " ").str.strip_chars()


def normalise(raw: pl.Series, *, nfkc_done: bool = False) -> pl.Series:
    """NFKC, invisible characters removed, casefolded, confusables folded, spacing collapsed.

    Full-width letters fold under NFKC. Null becomes the empty string.
    """
    text = raw.fill_null("")
    text = (text if nfkc_done else _nfkc(text)).str.replace_all(_INVISIBLE, "").str.to_lowercase()
    # Letter-spacing is undone before whitespace collapses: the double space between spaced-out
    # words is the only word boundary left.
    spaced = text.str.contains(_SPACED)
    if spaced.any():
        idx = spaced.arg_true()
        text = text.scatter(idx, [_despace_row(t) for t in text.gather(idx).to_list()])
    text = _collapse_spaces(text)
    frame = pl.DataFrame({"t": text})
    needs_fold = frame.select(pl.col("t").str.contains(_MIXED_SCRIPT)).to_series()
    if needs_fold.any():
        idx = needs_fold.arg_true()
        text = text.scatter(idx, [_fold_row(t) for t in text.gather(idx).to_list()])
    return text.alias("text")


def _part_text(content: Any) -> str:
    """Text of one message content: a string, or OpenAI/OTel content parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        value = content.get("text", content.get("content", ""))
        return value if isinstance(value, str) else _part_text(value)
    if isinstance(content, list):
        return "\n".join(t for t in (_part_text(p) for p in content) if t)
    return ""


def _last_user_text(messages_json: str | None) -> str | None:
    if not messages_json:
        return None
    try:
        messages = orjson.loads(messages_json)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            body = message.get("content", message.get("parts"))
            return _part_text(body)
    return None


def prompt_texts(events: pl.DataFrame) -> pl.Series:
    """The last user turn's text per row; content parts joined, derived from messages if absent."""
    n = events.height
    if S.PROMPT in events.columns:
        col = events.get_column(S.PROMPT)
        if col.dtype == pl.String:
            prompt = col
        elif col.dtype == pl.Null:
            prompt = pl.Series(S.PROMPT, [None] * n, dtype=pl.String)
        else:  # list of parts or structs: fall back to Python for the odd shape
            prompt = pl.Series(S.PROMPT, [_part_text(v) for v in col.to_list()], dtype=pl.String)
    else:
        prompt = pl.Series(S.PROMPT, [None] * n, dtype=pl.String)
    if S.INPUT_MESSAGES in events.columns and prompt.null_count():
        missing = prompt.is_null().arg_true()
        messages = events.get_column(S.INPUT_MESSAGES).cast(pl.String).gather(missing).to_list()
        prompt = prompt.scatter(missing, [_last_user_text(m) for m in messages])
    return prompt


def _window(text: pl.Expr) -> pl.Expr:
    over = text.str.len_chars() > WINDOW_HEAD + WINDOW_TAIL
    return (
        pl.when(over)
        .then(
            pl.concat_str([text.str.head(WINDOW_HEAD), pl.lit(" … "), text.str.tail(WINDOW_TAIL)])
        )
        .otherwise(text)
    )


def skeleton(raw: pl.Series, *, nfkc_done: bool = False) -> pl.Series:
    """Mask the variable parts of a prompt so requests from one template share a skeleton."""
    head = raw.fill_null("").str.head(SKELETON_CHARS)
    head = head if nfkc_done else _nfkc(head)
    expr = pl.col("r").str.replace_all(_INVISIBLE, "")
    for pattern, repl in _MASKS:
        expr = expr.str.replace_all(pattern, repl)
    expr = expr.str.replace_all(_NAME[0], _NAME[1]).str.replace_all(_NAME[0], _NAME[1])
    expr = expr.str.replace_all(_NUMBER[0], _NUMBER[1])
    expr = expr.str.to_lowercase()
    masked = pl.DataFrame({"r": head}).select(expr.alias("skeleton")).to_series()
    return _collapse_spaces(masked).alias("skeleton")


def copied(text: pl.Expr) -> pl.Expr:
    """``text`` (strings) in buffers of its own.

    Filters, slices and ``str.head`` return views into the source's buffers, so a few kept rows
    hold a whole batch's text alive; a concat writes new ones (with one input it is a no-op).
    """
    return pl.concat_str(text, pl.lit(""))


def first_occurrences(values: pl.Series) -> tuple[pl.Series, pl.Series] | None:
    """Deduplicate ``values`` keeping first-occurrence order.

    Returns ``(first, inverse)``: ``first`` holds the row of each distinct value's first
    occurrence (ascending), ``inverse`` maps every row to its value's position in ``first``,
    so ``values.gather(first).gather(inverse) == values``. Null is one value. None when every
    value is distinct (nothing to share).
    """
    n = values.len()
    if n < 2:
        return None
    firsts = (
        pl.DataFrame({"v": values})
        .with_row_index("i")
        .select(pl.col("i").first().over("v"))
        .to_series()
        .to_numpy()
    )
    first = np.flatnonzero(firsts == np.arange(n, dtype=firsts.dtype)).astype(np.uint32)
    if first.size == n:
        return None
    inverse = np.searchsorted(first, firsts).astype(np.uint32)
    return pl.Series("first", first), pl.Series("inverse", inverse)


class PreparedBatch:
    """One batch of events plus the shared text views every signal reads.

    Columns of ``views``: ``raw`` (prompt as sent), ``text`` (normalised, windowed),
    ``full`` (normalised, whole prompt), ``skeleton`` (masked template), ``template_id``.

    Views are computed once per distinct prompt (:meth:`deduplicated`); a batch built on
    another batch's distinct prompts gathers its views on first use only.
    """

    def __init__(
        self, events: pl.DataFrame, views: pl.DataFrame, inverse: pl.Series | None = None
    ) -> None:
        self.events = events
        self._views = views
        self._inverse = inverse

    @property
    def height(self) -> int:
        return self._views.height if self._inverse is None else self._inverse.len()

    @functools.cached_property
    def views(self) -> pl.DataFrame:
        if self._inverse is None:
            return self._views
        return self._views[self._inverse]

    @classmethod
    def from_events(cls, events: pl.DataFrame) -> PreparedBatch:
        return cls.from_prompts(events, prompt_texts(events))

    @classmethod
    def from_prompts(cls, events: pl.DataFrame, raw: pl.Series) -> PreparedBatch:
        """Views of ``raw`` (one prompt per row of ``events``)."""
        folded = _nfkc(raw.fill_null(""))
        full = normalise(folded, nfkc_done=True)
        skel = skeleton(folded, nfkc_done=True)
        views = pl.DataFrame({"raw": raw, "full": full, "skeleton": skel}).with_columns(
            _window(pl.col("full")).alias("text"),
            pl.col("skeleton").hash(seed=0x5EED).alias("template_id"),
        )
        return cls(events, views)

    @classmethod
    def deduplicated(
        cls, events: pl.DataFrame, columns: tuple[str, ...] = ()
    ) -> tuple[PreparedBatch, PreparedBatch, pl.Series | None]:
        """``(whole, distinct, inverse)``: views computed once per distinct prompt.

        ``distinct`` holds the first row of each distinct prompt (first-occurrence order) with
        only the event ``columns`` that exist; ``whole`` is every row (its views gathered
        from ``distinct`` on first use); ``inverse`` maps each row of ``whole`` to its row in
        ``distinct`` (None when every prompt is distinct and both are the same batch).
        Every view is a function of the prompt alone, so the result equals
        :meth:`from_events` row for row.
        """
        raw = prompt_texts(events)
        dedup = first_occurrences(raw)
        if dedup is None:
            batch = cls.from_prompts(events, raw)
            return batch, batch, None
        first, inverse = dedup
        keep = [c for c in columns if c in events.columns]
        distinct = cls.from_prompts(events.select(keep).gather(first), raw.gather(first))
        return cls(events, distinct._views, inverse), distinct, inverse

    @functools.cached_property
    def sentence_keys(self) -> pl.DataFrame:
        """Sentence hashes of the normalised prompt (``row``, ``key``), shared by the
        dataset and jailbreak indexes."""
        from distillguard.signals.sentences import sentence_keys

        return sentence_keys(self.column("full"))

    @functools.cached_property
    def exact_keys(self) -> pl.Series:
        from distillguard.signals.sentences import exact_keys

        return exact_keys(self.column("full"))

    def column(self, name: str) -> pl.Series:
        return self.views.get_column(name)

    def event_column(self, name: str) -> pl.Series | None:
        """An event column, or None when the batch lacks it."""
        if name not in self.events.columns:
            return None
        return self.events.get_column(name)


class DeferredBatch(PreparedBatch):
    """A whole batch whose views are computed (once per distinct prompt) on first use: a
    signal that reads only event columns never pays for the text work."""

    def __init__(self, events: pl.DataFrame) -> None:
        super().__init__(events, pl.DataFrame())

    @property
    def height(self) -> int:
        return self.events.height

    @functools.cached_property
    def views(self) -> pl.DataFrame:
        return PreparedBatch.deduplicated(self.events)[0].views
