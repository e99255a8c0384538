"""Fixed data splits and guarded corpus access for fitting and measuring signals.

The split of a text is a hash of its item id, so it never changes between runs:
``train`` (fitting the jailbreak classifier), ``tune`` (threshold choices) and ``eval``
(the false-positive and recall figures in docs/signals.md, never used for fitting or tuning).
Chat traffic keeps 70% for evaluation (ShareGPT has ~15.6k first turns and the false-positive
figure needs >= 10k); jailbreak templates are scarce, so they keep 60% for training.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any, Literal

__all__ = ["CHAT_TRAIN_PCT", "TEMPLATE_TRAIN_PCT", "Split", "corpus", "split_of"]

log = logging.getLogger(__name__)

Split = Literal["train", "tune", "eval"]


CHAT_TRAIN_PCT = 20
TEMPLATE_TRAIN_PCT = 60
TUNE_PCT = 10


def split_of(item_id: str, train_pct: int = CHAT_TRAIN_PCT) -> Split:
    """``train_pct``% train, 10% tune, the rest eval, by a stable hash of the id."""
    bucket = int.from_bytes(hashlib.blake2b(item_id.encode(), digest_size=4).digest(), "big") % 100
    if bucket < train_pct:
        return "train"
    if bucket < train_pct + TUNE_PCT:
        return "tune"
    return "eval"


def corpus(name: str) -> tuple[Any, ...]:
    """Items of a corpus, or () with a warning when its data package is missing."""
    try:
        from distillguard.corpora import MissingDataPackage, load
    except ImportError:  # corpora part not installed: signals still run, without indexes
        log.warning("distillguard.corpora unavailable; %s not loaded", name)
        return ()
    try:
        return tuple(load(name))
    except (MissingDataPackage, KeyError, OSError) as exc:
        log.warning("corpus %s unavailable: %s", name, exc)
        return ()
