"""Template fingerprints and their near-duplicate clusters.

``template.id`` is computed per request in :class:`PreparedBatch` (hash of the masked skeleton:
numbers, names, quoted spans, code, URLs and e-mails masked). :class:`TemplateClusterer` keeps
the skeleton of each UNIQUE template seen (bounded) and, at the end of a scan, groups
near-duplicate skeletons with MinHash LSH, so the per-request cost stays one hash. This is the
"highly repetitive structures" cue of THREAT.md: one prompt template sent tens of thousands of
times across many accounts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import polars as pl

from distillguard.signals.text import copied

__all__ = ["TemplateClusterer", "item_wrapper_templates", "wrapper_skeletons"]

log = logging.getLogger(__name__)

# The seed PreparedBatch hashes skeletons with, so wrapper ids live in the same id space.
_TEMPLATE_SEED = 0x5EED


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = np.arange(n)

    def find(self, i: int) -> int:
        parent = self.parent
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return int(root)

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _has_rensa() -> bool:
    try:
        import rensa  # noqa: F401
    except ImportError:
        return False
    return True


class TemplateClusterer:
    """Collects unique (template.id, skeleton) pairs; ``clusters()`` runs MinHash LSH once.

    Bounded: at most ``max_templates`` skeletons of at most ``max_chars`` characters are kept
    (the first seen, in input order); templates beyond the bound get a singleton cluster
    (logged once). Cluster numbers are numbered by each cluster's smallest ``template.id``, so
    the same input gives the same numbers in every run and whatever the batch order.

    The kept skeletons' MinHash digests are computed on one background thread as they arrive
    (each row's digest depends on that row alone), so ``clusters()`` only groups them: on the
    1M-event scan the digests were 6.4 of ``finish()``'s 17.6 s, run while nothing else did.
    """

    def __init__(
        self,
        *,
        threshold: float = 0.7,
        num_perm: int = 64,
        shingle: int = 3,
        max_templates: int = 500_000,
        max_chars: int = 600,
    ) -> None:
        self.threshold = threshold
        self.num_perm = num_perm
        self.shingle = shingle
        self.max_templates = max_templates
        self.max_chars = max_chars
        self._parts: list[pl.DataFrame] = []
        self._kept_ids = pl.Series("template.id", [], dtype=pl.UInt64)
        self._ids: list[pl.Series] = []
        self._overflow_logged = False
        # Digests of ``_parts``, in order (None: rensa missing, datasketch clusters instead).
        self._digests: list[Future[np.ndarray]] | None = [] if _has_rensa() else None
        self._executor: ThreadPoolExecutor | None = None

    def update(self, template_id: pl.Series, skeleton: pl.Series) -> None:
        frame = (
            pl.DataFrame({"template.id": template_id.cast(pl.UInt64), "skeleton": skeleton})
            .unique("template.id", keep="first", maintain_order=True)
            .filter(~pl.col("template.id").is_in(self._kept_ids.implode()))
        )
        room = self.max_templates - self._kept_ids.len()
        if frame.height > room:
            self._ids.append(frame.get_column("template.id").slice(max(room, 0)))
            if len(self._ids) > 64:
                self._ids = [pl.concat(self._ids).unique(maintain_order=True)]
            if not self._overflow_logged:
                log.warning("template clusterer full (%d); later templates stay singletons",
                            self.max_templates)  # fmt: skip
                self._overflow_logged = True
            frame = frame.head(max(room, 0))
        if frame.height:
            # Copied: the kept rows would otherwise hold the whole batch's skeleton buffers.
            frame = frame.with_columns(copied(pl.col("skeleton").str.head(self.max_chars)))
            self._parts.append(frame)
            self._kept_ids = pl.concat([self._kept_ids, frame.get_column("template.id")])
            if self._digests is not None:
                self._digests.append(self._digest_later(frame.get_column("skeleton")))

    def _digest_later(self, skeletons: pl.Series) -> Future[np.ndarray]:
        from distillguard.signals.lsh import digests

        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="minhash")
        return self._executor.submit(
            digests, skeletons, num_perm=self.num_perm, shingle=self.shingle
        )

    def _kept_digests(self) -> np.ndarray:
        """Digests of every kept skeleton, in order (waits for the background thread)."""
        assert self._digests is not None
        parts = [f.result() for f in self._digests]
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None
        digest = np.concatenate(parts) if parts else np.empty((0, self.num_perm), dtype=np.uint32)
        done: Future[np.ndarray] = Future()
        done.set_result(digest)
        self._digests = [done]
        return digest

    def skeletons(self) -> pl.DataFrame:
        """The kept (``template.id``, ``skeleton``) pairs, in first-seen order."""
        if not self._parts:
            return pl.DataFrame(schema={"template.id": pl.UInt64, "skeleton": pl.String})
        if len(self._parts) > 1:
            self._parts = [pl.concat(self._parts)]
        return self._parts[0]

    def clusters(self) -> pl.DataFrame:
        """``template.id`` (UInt64) -> ``template.cluster`` (Int64), one row per unique id,
        sorted by id; clusters are numbered in the order of their smallest id."""
        kept = self.skeletons()
        labels = self._lsh_labels(kept.get_column("skeleton"))
        frame = pl.DataFrame(
            {"template.id": kept.get_column("template.id"), "label": labels},
            schema={"template.id": pl.UInt64, "label": pl.Int64},
        )
        if self._ids:
            # Over the bound: each later id is its own cluster (labels after the kept ones).
            rest = pl.concat(self._ids).unique().sort()
            rest = rest.filter(~rest.is_in(self._kept_ids.implode()))
            start = int(labels.max()) + 1 if len(labels) else 0
            frame = pl.concat([frame, pl.DataFrame({
                "template.id": rest,
                "label": pl.int_range(start, start + rest.len(), dtype=pl.Int64, eager=True),
            })])  # fmt: skip
        return (
            frame.with_columns(pl.col("template.id").min().over("label").alias("first"))
            .sort("template.id")
            .select(
                "template.id",
                (pl.col("first").rank("dense") - 1).cast(pl.Int64).alias("template.cluster"),
            )
        )

    def _lsh_labels(self, skeletons: pl.Series) -> np.ndarray:
        """Component per skeleton, numbered by smallest index (MinHash LSH, Jaccard)."""
        n = skeletons.len()
        if self._digests is None:
            if n <= 1:
                return np.zeros(n, dtype=np.int64)
            return self._datasketch_labels(skeletons.to_list())
        digest = self._kept_digests()
        if n <= 1:
            return np.zeros(n, dtype=np.int64)
        from distillguard.signals.lsh import components

        return components(digest, threshold=self.threshold)

    def _datasketch_labels(self, skeletons: list[str]) -> np.ndarray:
        from datasketch import MinHash, MinHashLSH

        from distillguard.signals.lsh import python_shingles

        log.info("rensa unavailable; clustering templates with datasketch")
        lsh = MinHashLSH(threshold=self.threshold, num_perm=self.num_perm)
        hashes = []
        for i, skeleton in enumerate(skeletons):
            mh = MinHash(num_perm=self.num_perm, seed=42)
            for t in python_shingles(skeleton, self.shingle):
                mh.update(t.encode())
            hashes.append(mh)
            lsh.insert(str(i), mh)
        uf = _UnionFind(len(skeletons))
        for i, mh in enumerate(hashes):
            for key in lsh.query(mh):
                j = int(key)
                if j < i and mh.jaccard(hashes[j]) >= self.threshold:
                    uf.union(j, i)
        roots = np.fromiter((uf.find(i) for i in range(len(skeletons))), dtype=np.int64)
        return np.unique(roots, return_inverse=True)[1].astype(np.int64)


def wrapper_skeletons(full: pl.Series, hit: pl.Series, item_keys: pl.Series) -> pl.Series:
    """The wrapper around a public-dataset item: the prompt with the item's span masked.

    ``full`` is the normalised prompt, ``hit`` says which rows contain a dataset item, and
    ``item_keys`` holds the sentence hashes of every indexed item (``SentenceIndex.keys``).
    A prompt is split into sentences as the index splits them; the span from the first to
    the last sentence of a known item becomes ``<item>``, and only the long sentences
    outside it that belong to no item are kept (short pieces are answer options, "Answer:"
    and other per-item fragments). So thousands of different benchmark questions wrapped
    in one coercion prompt share one skeleton. Null where there is no wrapper left (a bare
    question) or no item: those rows keep their ordinary skeleton.
    """
    from distillguard.signals.sentences import _SEED, _TERMINATORS, MAX_SCAN_CHARS, MIN_CHARS
    from distillguard.signals.sentences import _clean as clean
    from distillguard.signals.text import skeleton

    n = full.len()
    out = pl.Series("wrapper", [None] * n, dtype=pl.String)
    rows = hit.fill_null(False).arg_true()
    if rows.len() == 0:
        return out
    keys = item_keys.implode()
    pieces = (
        pl.DataFrame({"row": rows, "t": full.gather(rows).fill_null("")})
        .select(
            "row",
            pl.col("t")
            .str.head(MAX_SCAN_CHARS)
            .str.replace_all(_TERMINATORS, "\x00")
            .str.split("\x00")
            .alias("s"),
        )
        .explode("s")
        .with_columns(
            pl.int_range(pl.len()).over("row").alias("pos"),
            clean(pl.col("s").fill_null("")).alias("s"),
        )
        .with_columns(
            (pl.col("s").str.len_chars() >= MIN_CHARS).alias("long"),
            pl.col("s").hash(seed=_SEED).alias("key"),
        )
        .with_columns(
            # A label glued to the question ("Question: ...", "Problem : ...") hides its hash:
            # the piece also counts with its first one or two words dropped.
            pl.col("s").str.replace(r"^\S+ ", "").hash(seed=_SEED).alias("key1"),
            pl.col("s").str.replace(r"^\S+ \S+ ", "").hash(seed=_SEED).alias("key2"),
        )
        .with_columns(
            (
                pl.col("long")
                & (
                    pl.col("key").is_in(keys)
                    | pl.col("key1").is_in(keys)
                    | pl.col("key2").is_in(keys)
                )
            ).alias("item"),
        )
    )
    span = (
        pieces.filter("item")
        .group_by("row")
        .agg(pl.col("pos").min().alias("first"), pl.col("pos").max().alias("last"))
    )
    kept = (
        pieces.join(span, on="row")
        .filter(
            pl.col("long")
            & ~pl.col("item")
            & ((pl.col("pos") < pl.col("first")) | (pl.col("pos") > pl.col("last")))
        )
        .sort("row", "pos")
        .group_by("row", maintain_order=True)
        .agg(
            pl.col("s").filter(pl.col("pos") < pl.col("first")).str.join(" ").alias("before"),
            pl.col("s").filter(pl.col("pos") > pl.col("last")).str.join(" ").alias("after"),
        )
        .select(
            "row",
            pl.concat_str([pl.col("before"), pl.lit(" <item> "), pl.col("after")]).alias("w"),
        )
    )
    if kept.height == 0:
        return out
    masked = skeleton(kept.get_column("w"), nfkc_done=True)
    return out.scatter(kept.get_column("row"), masked)


def item_wrapper_templates(
    signals: Sequence[Any],
    dataset_name: pl.Series | None,
    full: pl.Series,
    template_id: pl.Series,
    skel: pl.Series,
) -> tuple[pl.Series, pl.Series]:
    """(``template.id``, skeleton) per row, with wrapped dataset items sharing their wrapper.

    Rows where the dataset signal found an item and a wrapper is left get the wrapper
    skeleton (see :func:`wrapper_skeletons`) and its hash; all others keep their own.
    """
    index = next((getattr(s, "index", None) for s in signals if s.id == "dataset"), None)
    template_id = template_id.cast(pl.UInt64)
    if index is None or dataset_name is None or dataset_name.null_count() == dataset_name.len():
        return template_id, skel
    wrapped = wrapper_skeletons(full, dataset_name.is_not_null(), index.keys["key"])
    if wrapped.null_count() == wrapped.len():
        return template_id, skel
    frame = pl.DataFrame({"w": wrapped, "id": template_id, "s": skel}).select(
        pl.when(pl.col("w").is_null())
        .then(pl.col("id"))
        .otherwise(pl.col("w").hash(seed=_TEMPLATE_SEED))
        .cast(pl.UInt64)
        .alias("id"),
        pl.coalesce("w", "s").alias("s"),
    )
    return frame.get_column("id").alias(template_id.name), frame.get_column("s").alias(skel.name)
