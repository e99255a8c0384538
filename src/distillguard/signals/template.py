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
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

__all__ = ["TemplateClusterer", "item_wrapper_templates", "wrapper_skeletons"]

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"<\w+>|\w+")
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


class TemplateClusterer:
    """Collects unique (template.id, skeleton) pairs; ``clusters()`` runs MinHash LSH once.

    Bounded: at most ``max_templates`` skeletons of at most ``max_chars`` characters are kept;
    templates beyond the bound get a singleton cluster (logged once).
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
        self._kept = 0
        self._ids: list[pl.Series] = []
        self._overflow_logged = False

    def update(self, template_id: pl.Series, skeleton: pl.Series) -> None:
        frame = pl.DataFrame(
            {"template.id": template_id, "skeleton": skeleton.str.head(self.max_chars)}
        ).unique("template.id", keep="first")
        self._ids.append(frame.get_column("template.id"))
        room = self.max_templates - self._kept
        if room <= 0:
            if not self._overflow_logged:
                log.warning("template clusterer full (%d); later templates stay singletons",
                            self.max_templates)  # fmt: skip
                self._overflow_logged = True
            return
        frame = frame.head(room)
        self._parts.append(frame)
        self._kept += frame.height
        if len(self._parts) > 64:  # compact so repeated templates do not pile up
            self._compact()

    def _compact(self) -> None:
        if self._parts:
            merged = pl.concat(self._parts).unique("template.id", keep="first", maintain_order=True)
            self._parts = [merged]
            self._kept = merged.height
        if self._ids:
            self._ids = [pl.concat(self._ids).unique()]

    def skeletons(self) -> pl.DataFrame:
        """The kept (``template.id``, ``skeleton``) pairs."""
        self._compact()
        if not self._parts:
            return pl.DataFrame(schema={"template.id": pl.UInt64, "skeleton": pl.String})
        return self._parts[0]

    def clusters(self) -> pl.DataFrame:
        """``template.id`` (UInt64) -> ``template.cluster`` (Int64), one row per unique id."""
        schema: dict[str, pl.DataType] = {
            "template.id": pl.UInt64(),
            "template.cluster": pl.Int64(),
        }
        if not self._ids:
            return pl.DataFrame(schema=schema)
        self._compact()
        kept = (
            self._parts[0]
            if self._parts
            else pl.DataFrame(schema={"template.id": pl.UInt64, "skeleton": pl.String})
        )
        labels = self._lsh_labels(kept.get_column("skeleton").to_list())
        clustered = pl.DataFrame(
            {"template.id": kept.get_column("template.id"), "template.cluster": labels},
            schema=schema,
        )
        rest = self._ids[0].to_frame("template.id").join(clustered, on="template.id", how="anti")
        start = int(labels.max()) + 1 if len(labels) else 0
        singles = rest.with_columns(
            (pl.int_range(0, pl.len(), dtype=pl.Int64) + start).alias("template.cluster")
        )
        return pl.concat([clustered, singles]).cast(pl.Schema(schema))

    def _tokens(self, skeleton: str) -> list[str]:
        words = _TOKEN.findall(skeleton)
        k = self.shingle
        if len(words) < k:
            return [" ".join(words)] if words else [""]
        return [" ".join(words[i : i + k]) for i in range(len(words) - k + 1)]

    def _lsh_labels(self, skeletons: list[str]) -> np.ndarray:
        n = len(skeletons)
        uf = _UnionFind(n)
        if n > 1:
            pairs = self._candidate_pairs([self._tokens(s) for s in skeletons])
            for a, b in pairs:
                uf.union(a, b)
        roots = np.fromiter((uf.find(i) for i in range(n)), dtype=np.int64, count=n)
        _, labels = np.unique(roots, return_inverse=True)
        return labels.astype(np.int64)

    def _candidate_pairs(self, token_sets: list[list[str]]) -> list[tuple[int, int]]:
        try:
            from rensa import RMinHash, RMinHashLSH
        except ImportError:
            return self._datasketch_pairs(token_sets)
        lsh = RMinHashLSH(threshold=self.threshold, num_perm=self.num_perm, num_bands=16)
        hashes = []
        for i, tokens in enumerate(token_sets):
            mh = RMinHash(num_perm=self.num_perm, seed=42)
            mh.update(tokens)
            hashes.append(mh)
            lsh.insert(i, mh)
        pairs = []
        for i, mh in enumerate(hashes):
            for j in lsh.query(mh):
                if j < i and mh.jaccard(hashes[j]) >= self.threshold:
                    pairs.append((j, i))
        return pairs

    def _datasketch_pairs(self, token_sets: list[list[str]]) -> list[tuple[int, int]]:
        from datasketch import MinHash, MinHashLSH

        log.info("rensa unavailable; clustering templates with datasketch")
        lsh = MinHashLSH(threshold=self.threshold, num_perm=self.num_perm)
        hashes = []
        for i, tokens in enumerate(token_sets):
            mh = MinHash(num_perm=self.num_perm, seed=42)
            for t in tokens:
                mh.update(t.encode())
            hashes.append(mh)
            lsh.insert(str(i), mh)
        pairs = []
        for i, mh in enumerate(hashes):
            for key in lsh.query(mh):
                j = int(key)
                if j < i and mh.jaccard(hashes[j]) >= self.threshold:
                    pairs.append((j, i))
        return pairs


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
