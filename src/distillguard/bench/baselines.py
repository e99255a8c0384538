"""Published-style baselines, run by the harness on the same traffic as distillguard.

Each baseline computes one raw score per subject (higher = more suspicious),
sets its threshold on the calibration seed's benign subjects at the shared
target FPR, and maps ``score >= threshold`` to ``review`` (else ``allow``).
None of them throttles or blocks: they are detectors, not policies.

- ``rate``: peak requests in any clock hour (the per-account rate limit idea).
- ``iforest``: isolation forest over per-subject behaviour features.
- ``prada``: PRADA (Juuti et al., EuroS&P 2019): Shapiro–Wilk normality of the
  minimum distance of each query to the subject's earlier queries; natural
  traffic gives roughly normal distances, synthetic sweeps do not.
- ``seat``: SEAT (Zhang et al., AISec 2021): count of near-duplicate query pairs
  per subject, found with MinHash band collisions.

Per-event work (text vectors, MinHash) is cached by event fingerprint so that
replay, which scores growing prefixes of one stream, pays for it once; the
caches declare their bound and are cleared when it is reached.
"""

from __future__ import annotations

import logging
import math
import re

import numpy as np
import numpy.typing as npt
import polars as pl

from distillguard import schema as S
from distillguard.bench.detector import FINGERPRINT, SubjectLabels, event_fingerprint
from distillguard.bench.metrics import threshold_at_fpr

__all__ = [
    "IsolationForestBaseline",
    "PradaBaseline",
    "RateBaseline",
    "SeatBaseline",
    "ThresholdBaseline",
    "subject_features",
]

log = logging.getLogger(__name__)

_SUBJECT = [S.ACCOUNT, S.ENDUSER]
_MAX_TEXT = 1000  # characters of a prompt that are hashed: bounds cost; templates show early
_CACHE_ROWS = 5_000_000  # bound on per-event caches


def _with_subject(events: pl.DataFrame) -> pl.DataFrame:
    if S.ENDUSER not in events.columns:
        events = events.with_columns(pl.lit(None, dtype=pl.Utf8).alias(S.ENDUSER))
    return events


class ThresholdBaseline:
    """Shared fit/score: a subclass supplies ``raw_scores`` (and optionally ``_learn``)."""

    name = "baseline"

    def __init__(self, *, target_fpr: float = 0.01) -> None:
        self.target_fpr = target_fpr
        self.threshold = math.inf

    def raw_scores(self, events: pl.DataFrame) -> pl.DataFrame:
        """One row per subject: ``distillguard.account.id``, ``enduser.id``, ``score``."""
        raise NotImplementedError

    def _learn(self, events: pl.DataFrame) -> None:
        """Unsupervised model fitting on calibration traffic (labels are not used)."""

    def fit(self, events: pl.DataFrame, labels: SubjectLabels) -> None:
        self._learn(events)
        raw = self.raw_scores(events).with_columns(pl.col(S.ENDUSER).fill_null(""))
        benign = labels.benign().select(pl.col(S.ACCOUNT), pl.col(S.ENDUSER).fill_null(""))
        benign_scores = raw.join(benign, on=_SUBJECT, how="inner")["score"].to_numpy()
        self.threshold = threshold_at_fpr(benign_scores, self.target_fpr)
        log.info(
            "%s: threshold %.4g on %d benign subjects",
            self.name,
            self.threshold,
            benign_scores.size,
        )

    def score(self, events: pl.DataFrame) -> pl.DataFrame:
        raw = self.raw_scores(events)
        return raw.select(
            pl.col(S.ACCOUNT),
            pl.col(S.ENDUSER),
            pl.col("score").cast(pl.Float64).alias("risk"),
            pl.when(pl.col("score") >= self.threshold)
            .then(pl.lit("review"))
            .otherwise(pl.lit("allow"))
            .alias("action"),
        )


class RateBaseline(ThresholdBaseline):
    """Peak requests per clock hour: what a plain rate limit sees."""

    name = "rate"

    def raw_scores(self, events: pl.DataFrame) -> pl.DataFrame:
        events = _with_subject(events)
        return (
            events.group_by([*_SUBJECT, pl.col(S.TIMESTAMP).dt.truncate("1h").alias("_h")])
            .len()
            .group_by(_SUBJECT)
            .agg(pl.col("len").max().cast(pl.Float64).alias("score"))
        )


def subject_features(events: pl.DataFrame) -> pl.DataFrame:
    """Behaviour features per subject, null-tolerant (optional columns may be absent)."""
    events = _with_subject(events).sort(S.TIMESTAMP)
    cols = set(events.columns)

    def opt_mean(name: str) -> pl.Expr:
        if name in cols:
            return pl.col(name).cast(pl.Float64).mean().fill_null(0.0).log1p()
        return pl.lit(0.0)

    def opt_unique(name: str) -> pl.Expr:
        if name in cols:
            return pl.col(name).drop_nulls().n_unique().cast(pl.Float64).log1p()
        return pl.lit(0.0)

    gaps = pl.col(S.TIMESTAMP).diff().dt.total_milliseconds().cast(pl.Float64) / 1000.0
    hours = pl.col(S.TIMESTAMP).dt.truncate("1h")
    return events.group_by(_SUBJECT).agg(
        pl.len().cast(pl.Float64).log1p().alias("log_events"),
        hours.n_unique().cast(pl.Float64).log1p().alias("log_active_hours"),
        (pl.len() / hours.n_unique()).cast(pl.Float64).log1p().alias("log_events_per_hour"),
        gaps.drop_nulls().clip(0.001, None).log().mean().fill_null(0.0).alias("mean_log_gap"),
        gaps.drop_nulls().clip(0.001, None).log().std().fill_null(0.0).alias("std_log_gap"),
        (pl.col(S.PROMPT).n_unique() / pl.len()).cast(pl.Float64).alias("unique_prompt_share"),
        pl.col(S.PROMPT).str.len_chars().cast(pl.Float64).mean().log1p().alias("log_prompt_len"),
        opt_mean(S.OUTPUT_TOKENS).alias("log_output_tokens"),
        opt_mean(S.MAX_TOKENS).alias("log_max_tokens"),
        opt_unique(S.CLIENT_ADDRESS).alias("log_ips"),
        opt_unique(S.MODEL).alias("log_models"),
    )


class IsolationForestBaseline(ThresholdBaseline):
    """Isolation forest (Liu et al. 2008) over :func:`subject_features`, fit unsupervised."""

    name = "iforest"

    def __init__(self, *, target_fpr: float = 0.01, seed: int = 0) -> None:
        super().__init__(target_fpr=target_fpr)
        self.seed = seed
        self._model: object | None = None

    def _learn(self, events: pl.DataFrame) -> None:
        from sklearn.ensemble import IsolationForest

        features = subject_features(events).drop(_SUBJECT).to_numpy()
        model = IsolationForest(n_estimators=100, random_state=self.seed)
        model.fit(features)
        self._model = model

    def raw_scores(self, events: pl.DataFrame) -> pl.DataFrame:
        if self._model is None:
            raise RuntimeError("fit the isolation forest on calibration traffic first")
        feats = subject_features(events)
        x = feats.drop(_SUBJECT).to_numpy()
        score = -self._model.score_samples(x) if x.shape[0] else np.zeros(0)  # type: ignore[attr-defined]
        return feats.select(_SUBJECT).with_columns(pl.Series("score", score, dtype=pl.Float64))


def _clip_text(events: pl.DataFrame) -> list[str]:
    return [t or "" for t in events[S.PROMPT].str.slice(0, _MAX_TEXT).to_list()]


class _EventCache:
    """fingerprint -> per-event values, bounded by ``_CACHE_ROWS``."""

    def __init__(self) -> None:
        self.frame: pl.DataFrame | None = None

    def lookup(self, fps: pl.Series) -> pl.DataFrame | None:
        if self.frame is None:
            return None
        hit = pl.DataFrame({FINGERPRINT: fps}).join(self.frame, on=FINGERPRINT, how="left")
        value_cols = [c for c in hit.columns if c != FINGERPRINT]
        if hit.select(pl.col(value_cols[0]).is_null().any()).item():
            return None
        return hit

    def store(self, frame: pl.DataFrame) -> None:
        merged = (
            frame
            if self.frame is None
            else pl.concat([self.frame, frame]).unique(FINGERPRINT, keep="last")
        )
        self.frame = merged if merged.height <= _CACHE_ROWS else frame


class PradaBaseline(ThresholdBaseline):
    """PRADA: 1 - Shapiro–Wilk W of each subject's minimum inter-query distances.

    Queries are hashed character 3–4-gram vectors (L2-normalised), not a neural
    embedding. Each query is compared with the subject's previous ``window``
    queries (PRADA compares with all; the window bounds the cost). Subjects with
    fewer than ``min_queries`` queries score 0: the test has no power there.
    """

    name = "prada"

    def __init__(
        self,
        *,
        target_fpr: float = 0.01,
        window: int = 256,
        min_queries: int = 20,
        n_features: int = 512,
    ) -> None:
        super().__init__(target_fpr=target_fpr)
        self.window = window
        self.min_queries = min_queries
        self.n_features = n_features
        self._cache = _EventCache()

    def _vectors(self, texts: list[str]) -> npt.NDArray[np.float32]:
        from sklearn.feature_extraction.text import HashingVectorizer

        vec = HashingVectorizer(
            analyzer="char_wb",
            ngram_range=(3, 4),
            n_features=self.n_features,
            alternate_sign=False,
            norm="l2",
            lowercase=True,
        )
        return np.asarray(vec.transform(texts).toarray(), dtype=np.float32)

    def _min_distances(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Distance of each row to its nearest row among the previous ``window`` rows."""
        n = vectors.shape[0]
        out = np.full(n, np.nan)
        block = 512
        for a in range(1, n, block):
            b = min(n, a + block)
            lo = max(0, a - self.window)
            sims = vectors[a:b] @ vectors[lo:b].T
            rows = np.arange(a, b)[:, None]
            cols = np.arange(lo, b)[None, :]
            valid = (cols < rows) & (cols >= rows - self.window)
            sims = np.where(valid, sims, -np.inf)
            best = sims.max(axis=1).astype(np.float64)
            out[a:b] = np.sqrt(np.clip(2.0 - 2.0 * best, 0.0, None))
        return out

    def _event_distances(self, events: pl.DataFrame) -> pl.DataFrame:
        events = _with_subject(events).sort(S.TIMESTAMP, maintain_order=True)
        fps = events.select(event_fingerprint(events))[FINGERPRINT]
        cached = self._cache.lookup(fps)
        if cached is not None:
            return events.select(_SUBJECT).with_columns(cached["min_distance"])
        dist = np.full(events.height, np.nan)
        vectors = self._vectors(_clip_text(events))
        indices = events.with_row_index("_i").group_by(_SUBJECT).agg(pl.col("_i"))["_i"]
        for idx in indices.to_list():
            rows = np.asarray(idx, dtype=np.int64)
            dist[rows] = self._min_distances(vectors[rows])
        self._cache.store(pl.DataFrame({FINGERPRINT: fps, "min_distance": dist}).fill_nan(-1.0))
        return events.select(_SUBJECT).with_columns(pl.Series("min_distance", dist).fill_nan(-1.0))

    def raw_scores(self, events: pl.DataFrame) -> pl.DataFrame:
        from scipy.stats import shapiro

        per_event = self._event_distances(events)
        grouped = (
            per_event.filter(pl.col("min_distance") >= 0)
            .group_by(_SUBJECT)
            .agg(pl.col("min_distance"))
        )
        scores: list[float] = []
        for d in grouped["min_distance"].to_list():
            x = np.asarray(d, dtype=np.float64)[-5000:]  # Shapiro–Wilk is defined up to 5000
            if x.size < self.min_queries:
                scores.append(0.0)
            elif np.ptp(x) < 1e-9:
                scores.append(1.0)  # all queries equally far apart: nothing natural about it
            else:
                scores.append(1.0 - float(shapiro(x).statistic))
        scored = grouped.select(_SUBJECT).with_columns(pl.Series("score", scores, dtype=pl.Float64))
        every = _with_subject(events).select(_SUBJECT).unique()
        return every.join(scored, on=_SUBJECT, how="left", nulls_equal=True).with_columns(
            pl.col("score").fill_null(0.0)
        )


_WORD = re.compile(r"\w+", re.UNICODE)


class SeatBaseline(ThresholdBaseline):
    """SEAT: the number of near-duplicate query pairs within a subject.

    MinHash signatures (rensa, ``bands * rows`` permutations) over word 3-shingles;
    two queries are near-duplicates when they share a whole band, which with 8
    bands of 8 rows puts the Jaccard threshold near (1/8)^(1/8) = 0.77. The
    score is the largest per-band count of colliding pairs, a lower bound on the
    distinct pair count that avoids enumerating pairs of a 10,000-query template.
    """

    name = "seat"

    def __init__(self, *, target_fpr: float = 0.01, bands: int = 8, rows: int = 8) -> None:
        super().__init__(target_fpr=target_fpr)
        self.bands = bands
        self.rows = rows
        self._cache = _EventCache()

    def _shingles(self, text: str) -> list[str]:
        words = _WORD.findall(text.lower())
        if len(words) < 3:
            return words or [text]
        return [" ".join(words[i : i + 3]) for i in range(len(words) - 2)]

    def _band_hashes(self, texts: list[str]) -> npt.NDArray[np.uint64]:
        from rensa import RMinHash

        out = np.zeros((len(texts), self.bands), dtype=np.uint64)
        for i, text in enumerate(texts):
            mh = RMinHash(num_perm=self.bands * self.rows, seed=11)
            mh.update(self._shingles(text))
            sig = np.asarray(mh.digest(), dtype=np.uint64).reshape(self.bands, self.rows)
            # fold each band's rows into one 64-bit key
            out[i] = (sig * np.arange(1, self.rows + 1, dtype=np.uint64)[None, :]).sum(axis=1)
            out[i] ^= np.arange(self.bands, dtype=np.uint64) << np.uint64(56)
        return out

    def raw_scores(self, events: pl.DataFrame) -> pl.DataFrame:
        events = _with_subject(events)
        fps = events.select(event_fingerprint(events))[FINGERPRINT]
        band_cols = [f"band{k}" for k in range(self.bands)]
        cached = self._cache.lookup(fps)
        if cached is None:
            hashes = self._band_hashes(_clip_text(events))
            cached = pl.DataFrame(
                {FINGERPRINT: fps, **{c: hashes[:, k] for k, c in enumerate(band_cols)}}
            )
            self._cache.store(cached)
        frame = events.select(_SUBJECT).with_columns(cached.select(band_cols))
        per_band = [
            frame.group_by([*_SUBJECT, c])
            .len()
            .group_by(_SUBJECT)
            .agg(((pl.col("len") * (pl.col("len") - 1)) // 2).sum().alias(c))
            for c in band_cols
        ]
        out = per_band[0]
        for part in per_band[1:]:
            out = out.join(part, on=_SUBJECT, how="full", coalesce=True, nulls_equal=True)
        return out.select(
            *_SUBJECT,
            pl.max_horizontal(band_cols).fill_null(0).cast(pl.Float64).alias("score"),
        )
