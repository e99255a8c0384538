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

import numpy as np
import polars as pl

__all__ = ["TemplateClusterer"]

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"<\w+>|\w+")


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
