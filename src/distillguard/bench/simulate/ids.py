"""Opaque identifiers: a keyed bijective mix of an index, rendered as hex.

The mix (splitmix64's finaliser) is a bijection on 64-bit integers, so distinct
indices give distinct ids, and nothing in an id reveals its label.
"""

from __future__ import annotations

import numpy as np

__all__ = ["hex_ids", "mix64"]

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def mix64(values: np.ndarray, key: int) -> np.ndarray:
    """splitmix64 finaliser of ``values + key * golden``; bijective for a fixed key."""
    x = values.astype(np.uint64) + np.uint64((key * 0x9E3779B97F4A7C15) & (2**64 - 1))
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        return x ^ (x >> np.uint64(31))


def hex_ids(prefix: str, index: np.ndarray, key: int, width: int = 16) -> list[str]:
    """``prefix`` + ``width`` hex digits of mix64(index); unique for unique indices if
    ``width`` is 16."""
    mixed = mix64(index, key)
    shift = 4 * (16 - width)
    return [f"{prefix}{int(v) >> shift:0{width}x}" for v in mixed]
