"""Template clusters: repeatable numbering, the bound, and the vectorised LSH against rensa's."""

from __future__ import annotations

import random

import numpy as np
import polars as pl
import pytest

from distillguard.signals import lsh
from distillguard.signals.template import TemplateClusterer

WORDS = [f"word{i}" for i in range(24)]


def skeletons(n: int, seed: int) -> list[str]:
    """Families of near-duplicate skeletons (a few words changed) plus unrelated ones, with some
    non-ASCII rows (tokenised by the Python reference path) and short ones (< 3 words)."""
    rng = random.Random(seed)
    bases = [[rng.choice(WORDS) for _ in range(rng.randint(12, 40))] for _ in range(max(1, n // 8))]
    out = []
    for i in range(n):
        words = list(rng.choice(bases))
        for _ in range(rng.randint(0, 4)):
            words[rng.randrange(len(words))] = rng.choice(WORDS) + str(rng.randint(0, 9))
        text = " ".join(words)
        if i % 11 == 0:
            text = "Привет <num> " + text + " ünïcode naïve"
        if i % 17 == 0:
            text = rng.choice(["", "<num>", "one two", "x"])
        out.append(text)
    return out


def reference_labels(texts: list[str], threshold: float = 0.7) -> np.ndarray:
    """The clusterer's former loop: one RMinHash per skeleton, RMinHashLSH query, union-find."""
    rensa = pytest.importorskip("rensa")
    index = rensa.RMinHashLSH(threshold=threshold, num_perm=64, num_bands=16)
    hashes = []
    for i, text in enumerate(texts):
        mh = rensa.RMinHash(num_perm=64, seed=42)
        mh.update(lsh.python_shingles(text, 3))
        hashes.append(mh)
        index.insert(i, mh)
    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i, mh in enumerate(hashes):
        for j in index.query(mh):
            if j < i and mh.jaccard(hashes[j]) >= threshold:
                a, b = find(i), find(j)
                parent[max(a, b)] = min(a, b)
    roots = np.array([find(i) for i in range(len(texts))])
    return np.unique(roots, return_inverse=True)[1]


@pytest.mark.parametrize("seed", [0, 1])
def test_vectorised_lsh_equals_the_rensa_loop(seed: int) -> None:
    pytest.importorskip("rensa")
    texts = skeletons(600, seed)
    digest = lsh.digests(pl.Series(texts, dtype=pl.String), num_perm=64, shingle=3)
    from rensa import RMinHash

    for i in (0, 11, 17, 599):
        mh = RMinHash(num_perm=64, seed=42)
        mh.update(lsh.python_shingles(texts[i], 3))
        assert np.array_equal(np.asarray(mh.digest(), dtype=np.uint32), digest[i])
    labels = lsh.components(digest, threshold=0.7)
    assert np.array_equal(labels, reference_labels(texts))
    assert labels.max() < len(texts) - 50  # the families did merge


def run(texts: list[str], batch: int, **kwargs: int) -> pl.DataFrame:
    clusterer = TemplateClusterer(**kwargs)
    ids = pl.Series([hash_of(t) for t in texts], dtype=pl.UInt64)
    for start in range(0, len(texts), batch):
        clusterer.update(ids.slice(start, batch), pl.Series(texts[start : start + batch]))
    return clusterer.clusters()


def hash_of(text: str) -> int:
    return int(pl.Series([text]).hash(seed=7)[0])


def test_cluster_ids_are_the_same_in_every_run_and_batch_order() -> None:
    texts = [*skeletons(400, 5), *skeletons(50, 5)]  # repeats across batches
    first = run(texts, 64)
    assert run(texts, 64).equals(first)
    assert run(texts, 37).equals(first)
    assert run(texts[::-1], 64).equals(first)
    # Numbered by smallest member id: cluster k's smallest id is below cluster k+1's.
    smallest = (
        first.group_by("template.cluster").agg(pl.col("template.id").min()).sort("template.cluster")
    )
    assert smallest.get_column("template.id").is_sorted()
    assert smallest.get_column("template.cluster").to_list() == list(range(smallest.height))
    assert first.get_column("template.id").is_unique().all()


def test_bound_counts_unique_templates_and_overflow_is_singletons() -> None:
    texts = skeletons(300, 9)
    distinct = len(set(texts))
    # Repeats do not use up the bound: feeding every template twice keeps them all.
    clusterer = TemplateClusterer(max_templates=distinct)
    ids = pl.Series([hash_of(t) for t in texts], dtype=pl.UInt64)
    for _ in range(2):
        clusterer.update(ids, pl.Series(texts))
    assert clusterer.skeletons().height == distinct
    assert clusterer.clusters().equals(run(texts, 300))
    small = run(texts, 50, max_templates=40)
    assert small.height == distinct
    kept = set(ids.unique(maintain_order=True).head(40).to_list())
    sizes = small.join(small.group_by("template.cluster").len(), on="template.cluster")
    assert (sizes.filter(~pl.col("template.id").is_in(list(kept))).get_column("len") == 1).all()
    assert run(texts, 50, max_templates=40).equals(small)


@pytest.mark.parametrize("need", [1, 45, 60, 64])
def test_similar_pairs_are_exactly_those_with_enough_equal_slots(need: int) -> None:
    rng = np.random.default_rng(need)
    base = rng.integers(0, 2**32, size=(40, 64), dtype=np.uint32)
    # Copies with k slots changed (k = 0..63), some changed only in their high bits, whose
    # low bits (what the cheap counts read) stay equal.
    digest = np.repeat(base[:1], 64, axis=0)
    for k in range(64):
        slots = rng.choice(64, size=k, replace=False)
        flip = np.full(k, 1 << 20) if k % 2 else rng.integers(1, 2**32, size=k)
        digest[k, slots] ^= flip.astype(np.uint32)
    digest = np.concatenate([digest, base])
    a, b = (x.ravel() for x in np.triu_indices(len(digest), 1))
    packs = tuple(lsh._packed(digest, bits) for bits in lsh._PACK_BITS)
    want = np.count_nonzero(digest[a] == digest[b], axis=1) >= need
    assert np.array_equal(lsh._similar(digest, packs, a, b, need), want)
    assert want.any() and not want.all()


def test_background_digests_are_the_one_pass_digests() -> None:
    pytest.importorskip("rensa")
    texts = skeletons(500, 3)
    clusterer = TemplateClusterer()
    ids = pl.Series([hash_of(t) for t in texts], dtype=pl.UInt64)
    for start in range(0, len(texts), 41):  # parts digested on the background thread
        clusterer.update(ids.slice(start, 41), pl.Series(texts[start : start + 41]))
    first = clusterer.clusters()
    kept = clusterer.skeletons().get_column("skeleton")
    assert np.array_equal(clusterer._kept_digests(), lsh.digests(kept, num_perm=64, shingle=3))
    assert clusterer.clusters().equals(first)  # asking again gives the same clusters
    assert TemplateClusterer().clusters().height == 0


def brute_force_labels(digest: np.ndarray, threshold: float) -> np.ndarray:
    """Components of every pair that shares a whole band and estimates >= threshold."""
    n, num_perm = digest.shape
    width = num_perm // lsh.BANDS
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i):
            shares = any(
                np.array_equal(digest[i, s : s + width], digest[j, s : s + width])
                for s in range(0, num_perm, width)
            )
            if shares and np.count_nonzero(digest[i] == digest[j]) / num_perm >= threshold:
                a, b = find(i), find(j)
                parent[max(a, b)] = min(a, b)
    roots = np.array([find(i) for i in range(n)])
    return np.unique(roots, return_inverse=True)[1]


@pytest.mark.parametrize(("num_perm", "threads"), [(64, 1), (64, 2), (64, 5), (128, 2)])
def test_components_equal_the_brute_force_definition(num_perm: int, threads: int) -> None:
    rng = np.random.default_rng(num_perm)
    # Families: copies of a base with a few slots redrawn from a small alphabet, so some
    # copies share bands without being near-duplicates and chains merge families.
    bases = rng.integers(0, 4, size=(12, num_perm), dtype=np.uint32)
    rows = []
    for _ in range(160):
        row = bases[rng.integers(0, len(bases))].copy()
        changed = rng.choice(num_perm, size=rng.integers(0, num_perm // 2), replace=False)
        row[changed] = rng.integers(0, 4, size=len(changed), dtype=np.uint32)
        rows.append(row)
    digest = np.array(rows, dtype=np.uint32)
    labels = lsh.components(digest, threshold=0.7, threads=threads)
    want = brute_force_labels(digest, 0.7)
    assert np.array_equal(labels, want)
    assert 1 < labels.max() < len(digest) - 20  # some merged, not everything
    assert np.array_equal(lsh.components(digest[:0], threshold=0.7), np.empty(0, dtype=np.int64))
    with pytest.raises(ValueError, match="divisible by 32"):
        lsh.components(digest[:, :48], threshold=0.7)
