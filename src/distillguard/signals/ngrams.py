"""Vectorised character n-gram counts, identical to scikit-learn's ``char_wb`` analyzer.

``CountVectorizer._count_vocab`` runs the analyzer and a dictionary lookup per n-gram in
Python (~1k documents per CPU-second for 400-character prompts), which made the jailbreak
classifier most of a scan's time. Here each distinct word is cut into n-grams once, in Polars,
and kept (a word's in-vocabulary n-gram counts are one row of a growing sparse table, up to
``MAX_CACHED_WORDS`` words): prompts repeat most of their words, so a batch costs one
dictionary lookup per word plus its new words' n-grams. The document-term matrix is the
product of a documents x words and a words x terms matrix, in SciPy. It is the one
``CountVectorizer.transform`` builds (same counts, dtype and sorted indices), so the TF-IDF
weighting and the classifier downstream are scikit-learn's own code and the probabilities are
bit-identical (``tests/signals/test_throughput.py``), whatever the table held before.

Only the configuration the jailbreak classifier uses is supported (``analyzer="char_wb"``,
default preprocessing, no fixed-vocabulary tricks); :func:`supports` says when the fast path
applies, otherwise callers keep scikit-learn's own ``transform``.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from itertools import chain, count, islice
from typing import Any

import numpy as np
import polars as pl

__all__ = ["CharNgramCounter", "supports"]

# Distinct words whose n-gram counts are kept across calls (~200 bytes each with their counts:
# the 1M-event scan's classifier documents hold ~200k).
MAX_CACHED_WORDS = 400_000


def supports(vectorizer: Any) -> bool:
    """True when ``vectorizer`` is a fitted char_wb Count/TfidfVectorizer with default text
    handling, whose ``transform`` this module reproduces exactly."""
    try:
        params = vectorizer.get_params()
        vocabulary = vectorizer.vocabulary_
    except AttributeError:
        return False
    return (
        params.get("analyzer") == "char_wb"
        and params.get("input") == "content"
        and params.get("preprocessor") is None
        and params.get("tokenizer") is None
        and params.get("strip_accents") is None
        and params.get("lowercase") is True
        and params.get("binary") is False
        and isinstance(vocabulary, dict)
        and len(vocabulary) > 0
    )


class CharNgramCounter:
    """Document-term counts of a fitted char_wb vectorizer (see module docstring).

    Words' n-gram counts are kept across calls, up to ``max_words`` words (then the table
    starts afresh). Safe to share between threads: the table grows under a lock, and a call
    multiplies by the rows that existed when it looked its words up.
    """

    def __init__(self, vectorizer: Any, max_words: int = MAX_CACHED_WORDS) -> None:
        if not supports(vectorizer):
            raise ValueError("vectorizer is not a default char_wb vectorizer")
        self.dtype = vectorizer.dtype
        self.min_n, self.max_n = vectorizer.ngram_range
        vocabulary: dict[str, int] = vectorizer.vocabulary_
        self.n_features = len(vocabulary)
        self.vocabulary = pl.DataFrame(
            {
                "g": pl.Series(list(vocabulary), dtype=pl.String),
                "j": np.fromiter(vocabulary.values(), dtype=np.int32, count=len(vocabulary)),
            }
        )
        self.max_words = max_words
        self._lock = threading.Lock()
        self._words = _WordTerms()

    def counts(self, docs: list[str]) -> Any:
        """``CountVectorizer.transform(docs)``: a CSR matrix with sorted indices."""
        import scipy.sparse as sp

        n_docs = len(docs)
        # sklearn: lowercase, collapse whitespace runs, split on whitespace, pad each word
        # with one space, then every n-gram of the padded word for min_n <= n <= max_n that
        # fits (a padded word shorter than n yields nothing more).
        words = [doc.lower().split() for doc in docs]
        per_doc = np.fromiter((len(w) for w in words), dtype=np.int64, count=n_docs)
        total = int(per_doc.sum())
        with self._lock:
            table = self._words
            ids = table.lookup(words, total)
            if len(table.ids) > self.max_words and table.known < len(table.ids):
                table = self._words = _WordTerms()
                ids = table.lookup(words, total)
            if table.known < len(table.ids):
                new = list(islice(table.ids, table.known, None))
                table.append(new, self._word_counts(new))
            # Views up to the current end: later appends write past it, or reallocate.
            words_terms = table.matrix(self.n_features)
        # Documents x words (occurrence counts) times words x terms (n-gram counts per word):
        # the product sums each (document, term) in SciPy's sparse kernels, without ever
        # listing the (document, word, term) cells (~900 per 600-character document), and a
        # sort of what is left puts the indices in the order sklearn builds (so the TF-IDF
        # sums, and the probabilities, are bit-identical). A word twice in a document is two
        # entries of its row, which the product adds up.
        docs_words = sp.csr_array(
            (
                np.ones(total, dtype=np.int32),
                ids,
                np.concatenate([[0], np.cumsum(per_doc)]),
            ),
            shape=(n_docs, words_terms.shape[0]),
        )
        summed = docs_words @ words_terms
        summed.sort_indices()
        out = sp.csr_array(
            (
                summed.data.astype(np.intc),
                summed.indices.astype(np.int32),
                summed.indptr.astype(np.int32),
            ),
            shape=(n_docs, self.n_features),
            dtype=self.dtype,
        )
        out.has_sorted_indices = True  # sorted above; sklearn's matrix carries the flag
        try:  # the sparse API flavour sklearn hands on (csr_matrix or csr_array)
            from sklearn.utils._sparse import _align_api_if_sparse
        except ImportError:
            return out
        return _align_api_if_sparse(out)

    def _word_counts(self, words: list[str]) -> pl.DataFrame:
        """``wid`` (position in ``words``), ``j`` (term) and ``n`` (its count in the word),
        sorted by ``wid`` then ``j``."""
        padded = pl.DataFrame({"w": pl.Series(words, dtype=pl.String)}).select(
            pl.int_range(pl.len(), dtype=pl.Int64).alias("wid"),
            pl.concat_str([pl.lit(" "), pl.col("w"), pl.lit(" ")]).alias("w"),
            (pl.col("w").str.len_chars() + 2).alias("L"),
        )
        grams = pl.concat(
            [
                padded.filter(pl.col("L") >= n)
                .select(
                    "wid",
                    "w",
                    pl.int_ranges(0, pl.col("L") - n + 1, dtype=pl.Int64).alias("p"),
                )
                .explode("p")
                .select("wid", pl.col("w").str.slice(pl.col("p"), n).alias("g"))
                for n in range(self.min_n, self.max_n + 1)
            ]
        )
        return (
            grams.join(self.vocabulary, on="g", how="inner")
            .group_by("wid", "j")
            .agg(pl.len().cast(pl.Int32).alias("n"))
            .sort("wid", "j")
        )


class _WordTerms:
    """Growing CSR rows, one per word seen: the word's in-vocabulary n-gram counts."""

    def __init__(self) -> None:
        # Ids in order of first sight; a word looked up for the first time gets the next one
        # (in C: ``defaultdict`` calls ``count.__next__``), its row is added by ``append``.
        self.ids: defaultdict[str, int] = defaultdict(count().__next__)
        self.known = 0  # words with a row
        self.indptr = np.zeros(1024, dtype=np.int64)
        self.indices = np.zeros(1 << 16, dtype=np.int32)
        self.data = np.zeros(1 << 16, dtype=np.int32)
        self.nnz = 0

    def lookup(self, words: list[list[str]], total: int) -> np.ndarray:
        """The id of each of the ``total`` words, in order; new words get ids but no row
        yet."""
        ids = map(self.ids.__getitem__, chain.from_iterable(words))
        return np.fromiter(ids, dtype=np.int64, count=total)

    def append(self, words: list[str], counts: pl.DataFrame) -> None:
        """Rows of ``words`` (the ids from ``known`` on, in order); ``counts`` as
        :meth:`CharNgramCounter._word_counts` gives them."""
        first = self.known
        n_new, nnz = len(words), counts.height
        self.indptr = _grown(self.indptr, first + n_new + 1)
        self.indices = _grown(self.indices, self.nnz + nnz)
        self.data = _grown(self.data, self.nnz + nnz)
        per_word = np.bincount(counts.get_column("wid").to_numpy(), minlength=n_new)
        self.indptr[first + 1 : first + n_new + 1] = self.nnz + np.cumsum(per_word)
        self.indices[self.nnz : self.nnz + nnz] = counts.get_column("j").to_numpy()
        self.data[self.nnz : self.nnz + nnz] = counts.get_column("n").to_numpy()
        self.nnz += nnz
        self.known = first + n_new

    def matrix(self, n_features: int) -> Any:
        import scipy.sparse as sp

        n = self.known
        return sp.csr_array(
            (self.data[: self.nnz], self.indices[: self.nnz], self.indptr[: n + 1]),
            shape=(n, n_features),
            copy=False,
        )


def _grown(array: np.ndarray, size: int) -> np.ndarray:
    """``array``, or a copy at least twice as long, so that ``size`` elements fit."""
    if size <= array.shape[0]:
        return array
    out = np.zeros(max(size, 2 * array.shape[0]), dtype=array.dtype)
    out[: array.shape[0]] = array
    return out
