"""Vectorised character n-gram counts, identical to scikit-learn's ``char_wb`` analyzer.

``CountVectorizer._count_vocab`` runs the analyzer and a dictionary lookup per n-gram in
Python (~1k documents per CPU-second for 400-character prompts), which made the jailbreak
classifier most of a scan's time. Here each distinct word is cut into n-grams once, in Polars,
and the document-term matrix is the product of a documents x words and a words x terms
matrix, in SciPy. The matrix is the one
``CountVectorizer.transform`` builds (same counts, dtype and sorted indices), so the TF-IDF
weighting and the classifier downstream are scikit-learn's own code and the probabilities are
bit-identical (``tests/signals/test_throughput.py``).

Only the configuration the jailbreak classifier uses is supported (``analyzer="char_wb"``,
default preprocessing, no fixed-vocabulary tricks); :func:`supports` says when the fast path
applies, otherwise callers keep scikit-learn's own ``transform``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

__all__ = ["CharNgramCounter", "supports"]


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
    """Document-term counts of a fitted char_wb vectorizer (see module docstring)."""

    def __init__(self, vectorizer: Any) -> None:
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

    def counts(self, docs: list[str]) -> Any:
        """``CountVectorizer.transform(docs)``: a CSR matrix with sorted indices."""
        import scipy.sparse as sp

        n_docs = len(docs)
        # sklearn: lowercase, collapse whitespace runs, split on whitespace, pad each word
        # with one space, then every n-gram of the padded word for min_n <= n <= max_n that
        # fits (a padded word shorter than n yields nothing more).
        words = [doc.lower().split() for doc in docs]
        per_doc = np.fromiter((len(w) for w in words), dtype=np.int64, count=n_docs)
        rows = np.repeat(np.arange(n_docs, dtype=np.int64), per_doc)
        flat = pl.Series("w", [w for ws in words for w in ws], dtype=pl.String)
        occurrences = pl.DataFrame({"row": rows, "w": flat})
        distinct = (
            occurrences.select(pl.col("w").unique())
            .with_row_index("wid")
            .with_columns(pl.col("wid").cast(pl.Int64))
        )
        padded = distinct.select(
            "wid", pl.concat_str([pl.lit(" "), pl.col("w"), pl.lit(" ")]).alias("w")
        ).with_columns(pl.col("w").str.len_chars().alias("L"))
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
        n_words = distinct.height
        # Documents x words (occurrence counts) times words x terms (n-gram counts per word):
        # the product sums each (document, term) in SciPy's sparse kernels, without ever
        # listing the (document, word, term) cells (~900 per 600-character document), and a
        # sort of what is left puts the indices in the order sklearn builds (so the TF-IDF
        # sums, and the probabilities, are bit-identical).
        word_terms = grams.join(self.vocabulary, on="g", how="inner")
        located = occurrences.join(distinct, on="w", how="left")
        docs_words = sp.csr_array(
            (
                np.ones(located.height, dtype=np.int32),
                (located.get_column("row").to_numpy(), located.get_column("wid").to_numpy()),
            ),
            shape=(n_docs, n_words),
        )
        words_terms = sp.csr_array(
            (
                np.ones(word_terms.height, dtype=np.int32),
                (word_terms.get_column("wid").to_numpy(), word_terms.get_column("j").to_numpy()),
            ),
            shape=(n_words, self.n_features),
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
