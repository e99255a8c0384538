"""Sentence and exact keys: the hashes the dataset and jailbreak indexes match on."""

from __future__ import annotations

import polars as pl

from distillguard.signals.sentences import EXACT_MIN_CHARS, MAX_SCAN_CHARS, exact_keys


def test_exact_keys_ignore_punctuation_and_skip_texts_too_short_to_identify() -> None:
    long_tail = "word " * (MAX_SCAN_CHARS // 5)
    texts = pl.Series(
        [
            "what is the capital of france?",
            "what is the capital, of france!!",  # same words, other punctuation
            "what is the capital of spain?",
            "?!.,;:" * 20,  # punctuation only: nothing to identify
            "a" * (EXACT_MIN_CHARS - 1),
            None,
            long_tail + "x",  # differs only past the scanned prefix
            long_tail + "y",
        ]
    )
    keys = exact_keys(texts).to_list()
    assert keys[0] is not None and keys[0] == keys[1] and keys[0] != keys[2]
    assert keys[3] is None and keys[4] is None and keys[5] is None
    assert keys[6] is not None and keys[6] == keys[7]
