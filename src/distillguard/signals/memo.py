"""PromptMemo: prompt-only signal outputs remembered across batches.

The outputs of a prompt-only signal, the dataset match and the template id are functions of
the prompt text alone; the runner already scores each distinct prompt of a batch once. Traffic
repeats prompts across batches too: the 1M-event scan's 65k-event batches held 837k distinct
prompts between them, 422k distinct in all. So the runner remembers each prompt's outputs and
scores only the prompts it has not seen.

Keys are a 128-bit BLAKE2b of the prompt's UTF-8, not a fast non-cryptographic hash: a crafted
prompt must not be able to collide with a benign one and inherit its scores. Bounded: when
``max_prompts`` would be passed, the memo is emptied and refills.
"""

from __future__ import annotations

import hashlib
import threading

import polars as pl

__all__ = ["PromptMemo", "prompt_keys"]

_NULL_KEY = b"\x00"  # a missing prompt (no 16-byte digest is one byte long)
_SEEN = "_seen"


def prompt_keys(prompts: pl.Series) -> pl.Series:
    """One 16-byte key per prompt (a one-byte key for null)."""
    return pl.Series(
        "key",
        [
            _NULL_KEY
            if p is None
            else hashlib.blake2b(p.encode("utf-8", "surrogatepass"), digest_size=16).digest()
            for p in prompts.to_list()
        ],
        dtype=pl.Binary,
    )


class PromptMemo:
    """Outputs per prompt key; safe to use from several scoring threads."""

    def __init__(self, max_prompts: int = 500_000) -> None:
        self.max_prompts = max_prompts
        self._parts: list[pl.DataFrame] = []
        self._size = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._size

    def lookup(self, keys: pl.Series) -> tuple[pl.DataFrame | None, pl.Series]:
        """``(known, missing)``: the remembered outputs of ``keys`` (one row per key, in
        order, null where not remembered; None when nothing is) and the positions of the
        keys not remembered."""
        with self._lock:
            parts = list(self._parts)
        everything = pl.int_range(keys.len(), dtype=pl.UInt32, eager=True)
        if not parts:
            return None, everything
        known = pl.DataFrame({"key": keys}).join(
            pl.concat(parts, rechunk=False), on="key", how="left", maintain_order="left"
        )
        missing = known.get_column(_SEEN).is_null().arg_true().cast(pl.UInt32)
        return known.drop("key", _SEEN), missing

    def add(self, keys: pl.Series, outputs: pl.DataFrame) -> None:
        """Remember ``outputs`` (one row per key); keys already remembered are skipped."""
        if keys.len() == 0 or keys.len() > self.max_prompts:
            return
        frame = outputs.with_columns(keys.alias("key"), pl.lit(True).alias(_SEEN))
        with self._lock:
            if self._size + frame.height > self.max_prompts:
                self._parts, self._size = [], 0
            if self._parts:
                held = pl.concat([p.select("key") for p in self._parts], rechunk=False)
                frame = frame.join(held, on="key", how="anti", maintain_order="left")
            frame = frame.unique("key", keep="first", maintain_order=True)
            if frame.height:
                self._parts.append(frame)
                self._size += frame.height
