"""Near-duplicate groups of skeletons: MinHash digests (rensa) and LSH banding in NumPy.

The template clusterer (``template.py``) used to build one ``RMinHash`` per skeleton, insert it
into ``RMinHashLSH``, query every skeleton and check every candidate's Jaccard estimate in a
Python loop: 77 s on the 1M-event scan, almost all of it in that loop (a near-duplicate family
of templates shares a band across thousands of skeletons, so candidates grow quadratically).
Here the same digests come from rensa's matrix API (tokens built by Polars, hashed by rensa),
the bands are grouped exactly by one stable sort, and candidate pairs are checked in NumPy
blocks, only while their two ends are not yet in one component (a union-find kept
compressed). The components are the same as the loop's: an edge is a pair that shares a whole
band and whose estimate is >= the threshold; rensa's band hash finds a superset of those pairs
(hash collisions only), which its Jaccard check removed.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl

__all__ = ["TOKEN_PATTERN", "components", "digests", "python_shingles"]

TOKEN_PATTERN = r"<\w+>|\w+"
_TOKEN = re.compile(TOKEN_PATTERN)
# rensa's LSH layout the clusterer always used: 16 bands of num_perm / 16 rows.
BANDS = 16
_SEED = 42
# Bounds the working set: skeletons hashed per rensa call, pairs checked per NumPy block.
_CHUNK = 16_384
_PAIR_BLOCK = 1 << 20


def python_shingles(skeleton: str, k: int) -> list[str]:
    """Word ``k``-shingles of a skeleton (the reference tokenisation, used for non-ASCII rows)."""
    words = _TOKEN.findall(skeleton)
    if len(words) < k:
        return [" ".join(words)] if words else [""]
    return [" ".join(words[i : i + k]) for i in range(len(words) - k + 1)]


def _shingle_frame(skeletons: pl.Series, k: int) -> pl.DataFrame:
    """``row`` (Int64), ``token`` (Utf8): every row's shingles, rows in order.

    ASCII rows are split by Polars; rows with other characters use :func:`python_shingles`,
    because Rust's ``\\w`` and Python's differ outside ASCII (combining marks, superscripts)
    and the tokens must stay exactly the ones the digests were always computed from.
    """
    text = skeletons.fill_null("")
    ascii_rows = ~text.str.contains(r"[^\x00-\x7f]")
    frame = pl.DataFrame({"row": pl.int_range(0, text.len(), eager=True), "t": text})
    fast = frame.filter(ascii_rows).select(
        "row", pl.col("t").str.extract_all(TOKEN_PATTERN).alias("w")
    )
    lens = fast.get_column("w").list.len()
    short = fast.filter(lens < k).select("row", pl.col("w").list.join(" ").alias("token"))
    long = fast.filter(lens >= k)
    n = long.get_column("w").list.len().to_numpy().astype(np.int64)
    words = long.explode("w")
    starts = np.repeat(np.cumsum(n) - n, n)
    pos = np.arange(words.height, dtype=np.int64) - starts
    keep = pos <= np.repeat(n - k, n)
    w = pl.col("w")
    shingles = words.select(
        "row", pl.concat_str([w.shift(-i) for i in range(k)], separator=" ").alias("token")
    ).filter(pl.Series(keep))
    slow = frame.filter(~ascii_rows)
    rows = slow.get_column("row").to_list()
    tokens = [python_shingles(s, k) for s in slow.get_column("t").to_list()]
    other = pl.DataFrame(
        {
            "row": pl.Series([r for r, ts in zip(rows, tokens, strict=True) for _ in ts],
                             dtype=pl.Int64),
            "token": pl.Series(list(itertools.chain.from_iterable(tokens)), dtype=pl.String),
        }
    )  # fmt: skip
    parts = [p.cast({"row": pl.Int64}) for p in (short, shingles, other)]
    return pl.concat(parts).sort("row", maintain_order=True)


def digests(skeletons: pl.Series, *, num_perm: int, shingle: int) -> np.ndarray:
    """MinHash digests (``len(skeletons)`` x ``num_perm``, uint32) of each skeleton's shingles.

    Bit-identical to ``RMinHash(num_perm, seed=42).update(python_shingles(s))``.
    """
    from rensa import RMinHash

    out = np.empty((skeletons.len(), num_perm), dtype=np.uint32)
    for start in range(0, skeletons.len(), _CHUNK):
        part = skeletons.slice(start, _CHUNK)
        tokens = _shingle_frame(part, shingle)
        hashes = np.asarray(
            RMinHash.hash_token_sets([tokens.get_column("token").to_list()])[0], dtype=np.uint64
        )
        counts = np.bincount(tokens.get_column("row").to_numpy(), minlength=part.len())
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.uint64)
        matrix = RMinHash.digest_matrix_from_flat_token_hashes(hashes, offsets, num_perm, _SEED)
        rows = matrix.to_rows()
        out[start : start + part.len()] = np.fromiter(
            itertools.chain.from_iterable(rows), dtype=np.uint32, count=part.len() * num_perm
        ).reshape(part.len(), num_perm)
    return out


class _Roots:
    """Union-find over rows, each row's root kept fully compressed: its component's smallest
    row index.

    Accepted edges come a few at a time: merging them is one small component search over
    their roots and one O(n) gather, where recomputing the components of every edge so far
    took ~16 ms each time (2.6 of ``components``' 17 s on the 1M-event scan).
    """

    def __init__(self, n: int) -> None:
        self.root = np.arange(n, dtype=np.int64)
        self._lock = threading.Lock()

    def merge(self, a: np.ndarray, b: np.ndarray) -> None:
        with self._lock:  # readers may hold an older root array: it only ever coarsens
            self._merge(a, b)

    def _merge(self, a: np.ndarray, b: np.ndarray) -> None:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        ra, rb = self.root[a], self.root[b]
        apart = ra != rb
        if not apart.any():
            return
        ends = np.concatenate([ra[apart], rb[apart]])
        nodes, at = np.unique(ends, return_inverse=True)
        half = len(ends) // 2
        graph = coo_matrix(
            (np.ones(half, dtype=np.int8), (at[:half], at[half:])), shape=(len(nodes),) * 2
        )
        _, group = connected_components(graph, directed=False)
        lowest = np.full(group.max() + 1, len(self.root), dtype=np.int64)
        np.minimum.at(lowest, group, nodes)
        remap = np.arange(len(self.root), dtype=np.int64)
        remap[nodes] = lowest[group]
        self.root = remap[self.root]

    def labels(self) -> np.ndarray:
        """Component number per row, numbered in the order of their smallest row."""
        return np.unique(self.root, return_inverse=True)[1].astype(np.int64)


def _packed(digest: np.ndarray, bits: int) -> np.ndarray:
    """The low ``bits`` (2 or 8) of every slot, packed into uint64 words (row-major)."""
    low = digest.astype(np.uint8)
    if bits == 2:
        low &= np.uint8(3)
        low = np.bitwise_or.reduce([low[:, j::4] << np.uint8(2 * j) for j in range(4)])
    return np.ascontiguousarray(low).view(np.uint64)


def _equal_slots(v: np.ndarray, bits: int, slots: int) -> np.ndarray:
    """Per row of XORed packed words: how many ``bits``-wide fields are zero (equal)."""
    # 2 bits: the low bit of a field is set iff it differs. 8 bits: the high bit of a byte is
    # set iff it differs (no carry crosses a byte).
    if bits == 2:
        return slots - _row_sums(np.bitwise_count((v | v >> np.uint64(1)) & _EVEN))
    return slots - _row_sums(np.bitwise_count(((v & _LOW7) + _LOW7 | v) & _HIGH))


def _row_sums(counts: np.ndarray) -> np.ndarray:
    """Row sums of a few columns (NumPy's axis-1 sum is slow over 2-8 columns)."""
    total = counts[:, 0].astype(np.int64)
    for j in range(1, counts.shape[1]):
        total += counts[:, j]
    return total


def _similar(
    digest: np.ndarray, packs: tuple[np.ndarray, ...], a: np.ndarray, b: np.ndarray, need: int
) -> np.ndarray:
    """Whether each pair's Jaccard estimate (share of equal digest slots) is >= threshold.

    Most candidate pairs are far below it, so they are first counted on the low bits of each
    slot (``packs``: 2 bits, then 8 bits a slot; 16 and 64 bytes a row instead of 256): equal
    slots have equal low bits, so each count is an upper bound, and only pairs that reach
    ``need`` on it are counted again, finally on the full digests. On the 1M-event scan's
    133M candidate pairs, 7% pass the 2-bit count and 0.6% the 8-bit one.
    """
    ok = np.zeros(len(a), dtype=bool)
    slots = digest.shape[1]
    step = _PAIR_BLOCK // 4
    for s in range(0, len(a), step):
        x, y = a[s : s + step], b[s : s + step]
        maybe = np.arange(len(x))
        for pack, bits in zip(packs, _PACK_BITS, strict=True):
            keep = _equal_slots(pack[x] ^ pack[y], bits, slots) >= need
            x, y, maybe = x[keep], y[keep], maybe[keep]
        if len(maybe):
            exact = np.count_nonzero(digest[x] == digest[y], axis=1)
            ok[s + maybe] = exact >= need
    return ok


_PACK_BITS = (2, 8)
_EVEN = np.uint64(0x5555555555555555)
_LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)
_HIGH = np.uint64(0x8080808080808080)


def components(digest: np.ndarray, *, threshold: float, threads: int = 2) -> np.ndarray:
    """Component label per row (Int64, numbered by smallest member index) of the graph whose
    edges are the pairs sharing a whole LSH band with a Jaccard estimate >= ``threshold``.

    The bands are shared out among ``threads`` threads (the NumPy work releases the GIL) that
    merge into one union-find. The components do not depend on which thread accepts an edge
    first, or on whether a pair is checked before or after its ends were joined another way.
    """
    n, num_perm = digest.shape
    if num_perm % (2 * BANDS):  # bands of an even width: two slots to a 64-bit word
        raise ValueError(f"num_perm ({num_perm}) must be divisible by {2 * BANDS}")
    width = num_perm // BANDS
    # Equal slots a pair needs (the estimate is equal / num_perm, compared as rensa did).
    need = next((e for e in range(num_perm + 1) if e / num_perm >= threshold), num_perm + 1)
    packs = tuple(_packed(digest, bits) for bits in _PACK_BITS)
    roots = _Roots(n)

    def run(bands: range) -> None:
        for band in bands:
            sizes, flat = _buckets(digest[:, band * width : (band + 1) * width], roots.root)
            if len(sizes) == 0:
                continue
            # Star first (each member against its bucket's first): near-duplicate families
            # join in linear time, so the all-pairs pass only sees what the star left apart.
            starts = np.cumsum(sizes) - sizes
            first = np.repeat(flat[starts], sizes - 1)
            rest = np.delete(flat, starts)
            ok = _similar(digest, packs, first, rest, need)
            if ok.any():
                roots.merge(first[ok], rest[ok])
            _all_pairs(digest, packs, sizes, flat, roots, need)

    workers = max(1, min(threads, BANDS))
    if workers == 1:
        run(range(BANDS))
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="lsh") as pool:
            for done in [pool.submit(run, range(t, BANDS, workers)) for t in range(workers)]:
                done.result()
    return roots.labels()


def _buckets(band: np.ndarray, root: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows with equal values in every column of ``band``, as (sizes, rows): each bucket's
    rows in index order, one bucket after another. Only buckets whose rows are not yet all
    in one component (so never a bucket of one)."""
    n = len(root)
    if n == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    words = np.ascontiguousarray(band).view(np.uint64)  # two slots a key: fewer sort keys
    keys = pl.DataFrame([pl.Series(f"k{c}", words[:, c]) for c in range(words.shape[1])])
    order = keys.select(pl.arg_sort_by(keys.columns, maintain_order=True)).to_series().to_numpy()
    new = np.zeros(n, dtype=bool)
    new[0] = True
    for c in range(words.shape[1]):
        column = words[order, c]
        new[1:] |= column[1:] != column[:-1]
    starts = np.flatnonzero(new)
    sizes = np.diff(np.append(starts, n))
    member_roots = root[order]
    spread = np.maximum.reduceat(member_roots, starts) != np.minimum.reduceat(member_roots, starts)
    return sizes[spread], order[np.repeat(spread, sizes)].astype(np.int64)


def _all_pairs(
    digest: np.ndarray,
    packs: tuple[np.ndarray, ...],
    sizes: np.ndarray,
    flat: np.ndarray,
    roots: _Roots,
    need: int,
) -> None:
    """Checks every pair of a bucket whose ends are still in different components."""
    bucket_starts = np.cumsum(sizes) - sizes
    # Only buckets that still span two or more components.
    split = np.zeros(len(sizes), dtype=bool)
    comp = roots.root[flat].astype(np.int32)
    owner = np.repeat(np.arange(len(sizes)), sizes)
    head = comp[bucket_starts]
    np.logical_or.at(split, owner, comp != np.repeat(head, sizes))
    # Members after each member in its bucket (0 in buckets already one component).
    rank = np.arange(len(flat)) - np.repeat(bucket_starts, sizes)
    later = np.where(np.repeat(split, sizes), np.repeat(sizes, sizes) - 1 - rank, 0)
    # The bucket members' rows, gathered once: pairs then read neighbouring rows (cache).
    near, near_packs = digest[flat], tuple(pack[flat] for pack in packs)
    for a, b in _pair_blocks(later):
        keep = comp[a] != comp[b]
        a, b = a[keep], b[keep]
        ok = _similar(near, near_packs, a, b, need)
        if ok.any():
            roots.merge(flat[a[ok]], flat[b[ok]])
            comp = roots.root[flat].astype(np.int32)


def _pair_blocks(later: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every (p, p + 1 .. p + later[p]) pair of positions, about ``_PAIR_BLOCK`` at a time
    (a bucket of 10k members alone has 50M pairs: enumerating them at once took GBs)."""
    total = np.cumsum(later)
    if len(total) == 0 or total[-1] == 0:
        return
    cuts = np.searchsorted(total, np.arange(_PAIR_BLOCK, int(total[-1]), _PAIR_BLOCK), "right")
    for lo, hi in itertools.pairwise([0, *cuts.tolist(), len(later)]):
        count = later[lo:hi]
        # 32-bit positions: half the memory traffic of the gathers that read them.
        a = np.repeat(np.arange(lo, hi, dtype=np.int32), count)
        step = np.arange(1, len(a) + 1, dtype=np.int32)
        step -= np.repeat((np.cumsum(count) - count).astype(np.int32), count)
        yield a, a + step
