"""Even load: rings that spread one queue over many accounts (round-robin load balancing).

Independent people send wildly different numbers of requests: within any group of them
the variance of the members' request counts exceeds the mean (over-dispersed; even
identical Poisson senders give variance = mean). A dispatcher that hands each request to
the next account of a pool gives every account the same count: 22 accounts with 15 or 16
requests each after four hours (variance/mean 0.05). ``load_evenness`` measures how far
below Poisson the members' counts are spread, as a chi-square test of the index of
dispersion (Fisher; Cochran 1954): (k − 1) · var / mean ~ χ²(k − 1) for k independent
Poisson counts with a common mean. Available from a campaign's first hours, unlike a
dataset split, which needs hundreds of items.
"""

from __future__ import annotations

import math

import polars as pl

from distillguard import schema as S
from distillguard.accounts.base import SUBJECT
from distillguard.networks.base import CLUSTER

__all__ = ["load_evenness"]


def load_evenness(
    frame: pl.DataFrame,
    membership: pl.DataFrame,
    *,
    min_median_events: float = 5.0,
    min_sigma: float = 2.0,
    full_sigma: float = 4.0,
) -> pl.DataFrame:
    """Per cluster: ``load_dispersion`` (variance / mean of member request counts),
    ``progress_dispersion`` and ``load_evenness`` in [0, 1].

    Two lower-tail chi-square tests, both of which must pass (the weaker counts):

    - totals: (k − 1) · var / mean of the members' request counts against χ²(k − 1);
    - progress: each member's requests before the cluster's median request time, x_i of
      n_i, against the share q of all members' requests before it:
      Σ (x_i − n_i q)² / (n_i q (1 − q)) against χ²(k − 1). Independent senders split
      their requests around a moment binomially; a dispatcher's accounts all stand at the
      same fraction of their work at every moment. A class told to ask twenty questions
      each, or free-tier users all stopping at the same quota, are even in total but each
      at their own pace: they fail this one.

    Each test's lower-tail probability, as a normal deviate, maps linearly from 0 at
    ``min_sigma`` to 1 at ``full_sigma``; evenness = the smaller × the size factor of k (0
    for two members, 1 from twenty, as for ``dataset_split``). Clusters whose median member
    sent fewer than ``min_median_events`` requests score 0: a crowd of one-request users is
    even by truncation, not by design. An eval org sharding a benchmark over two or three
    accounts is even too; the size factor keeps it small.
    """
    schema = {
        CLUSTER: pl.UInt32,
        "load_dispersion": pl.Float64,
        "progress_dispersion": pl.Float64,
        "load_evenness": pl.Float64,
    }
    if membership.height == 0 or frame.height == 0:
        return pl.DataFrame(schema=schema)
    import numpy as np
    from scipy.stats import chi2, norm

    events = frame.select(SUBJECT, S.TIMESTAMP).join(membership, on=SUBJECT)
    middle = events.group_by(CLUSTER).agg(pl.col(S.TIMESTAMP).median().alias("_middle"))
    per_member = (
        events.join(middle, on=CLUSTER)
        .group_by(CLUSTER, SUBJECT)
        .agg(
            pl.len().cast(pl.Float64).alias("_n"),
            (pl.col(S.TIMESTAMP) < pl.col("_middle")).sum().cast(pl.Float64).alias("_x"),
        )
        .with_columns((pl.col("_x").sum() / pl.col("_n").sum()).over(CLUSTER).alias("_q"))
        .with_columns((pl.col("_q") * (1.0 - pl.col("_q")) * pl.col("_n")).alias("_binomial"))
        .sort(CLUSTER, SUBJECT)
    )
    counts = (
        per_member.group_by(CLUSTER, maintain_order=True)
        .agg(
            pl.len().alias("_k"),
            pl.col("_n").mean().alias("_mean"),
            pl.col("_n").var().alias("_var"),
            pl.col("_n").median().alias("_median"),
            pl.when(pl.col("_binomial") > 0)
            .then((pl.col("_x") - pl.col("_n") * pl.col("_q")) ** 2 / pl.col("_binomial"))
            .otherwise(None)
            .sum()
            .alias("_progress"),
            (pl.col("_binomial") > 0).all().alias("_spread"),
        )
        .filter(pl.col("_k") >= 2)
    )
    k = counts["_k"].to_numpy().astype(np.float64)
    dof = np.maximum(k - 1.0, 1.0)
    mean = counts["_mean"].to_numpy()
    dispersion = np.where(mean > 0, counts["_var"].fill_null(0.0).to_numpy() / mean, np.inf)
    progress = np.where(counts["_spread"].to_numpy(), counts["_progress"].to_numpy(), np.inf)

    def significance(statistic: np.ndarray) -> np.ndarray:
        # Lower tail: how unlikely a spread this even is for independent senders.
        sigma = norm.isf(np.clip(chi2.cdf(statistic, dof), 1e-300, 1.0))
        return np.clip((sigma - min_sigma) / (full_sigma - min_sigma), 0.0, 1.0)

    both = np.minimum(significance(dof * dispersion), significance(progress))
    size = np.clip(np.log(k / 2.0) / math.log(10.0), 0.0, 1.0)
    usable = (counts["_median"].to_numpy() >= min_median_events) & (k >= 3)
    evenness = np.where(usable, both * size, 0.0).round(12)
    return pl.DataFrame(
        {
            CLUSTER: counts[CLUSTER],
            "load_dispersion": dispersion,
            "progress_dispersion": progress / dof,
            "load_evenness": evenness,
        },
        schema=schema,
    ).sort(CLUSTER)
