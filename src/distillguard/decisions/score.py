"""Risk: account evidence and cluster evidence combined into one number in [0, 1].

The score is a logistic combination of evidence families, each in [0, 1]:

- ``content``: share of requests that look like harvesting (public-dataset items,
  reasoning elicitation, synthetic-data generators, grading, rewrites, jailbreaks;
  any of them: campaigns mix styles).
- ``narrow``: "massive volume concentrated in a few areas, highly repetitive
  structures" (Anthropic, Feb 2026) — top-3 template share scaled by volume.
- ``automation``: single-turn, round-the-clock, regular inter-arrival times.
- ``new_full``: a new account starting at full throughput (NSA/CISA/FBI, Sep 2026).
- ``rotation``: many client addresses outside VPN ranges (a proxy pool rotating per request).
- ``coordination``: the subject's cluster score times its attachment to the
  cluster (0 outside any cluster).

Any one account family alone stays well below the review threshold in practice
(benchmark runners, batch jobs and researchers each light one or two of them);
coordination with purpose is what lifts a subject over it. The weights are
priors; where actions start is fitted on benign traffic (``calibrate``).
"""

from __future__ import annotations

import polars as pl

from distillguard.accounts.profile import new_full_expr, rotation_expr, volume_expr
from distillguard.networks.cluster import CLUSTER

__all__ = [
    "CLUSTER_SCORE",
    "SPLIT_EVIDENCE",
    "OPERATOR_EVIDENCE",
    "COMPONENTS",
    "WEIGHTS",
    "cluster_scores",
    "subject_scores",
]

CLUSTER_SCORE = "cluster_score"
# A benchmark split over many accounts (``networks.dataset_split``, 0 where absent):
# evidence of one operator, and what ties each slice-taking member in (``decisions.detect``).
SPLIT_EVIDENCE = "split_evidence"
# Independent evidence of one operator other than shared addresses (decisions.policy: early
# campaign throttle).
OPERATOR_EVIDENCE = "operator_evidence"
COMPONENTS = ("content", "narrow", "automation", "new_full", "rotation", "coordination")
BIAS = -6.0
WEIGHTS: dict[str, float] = {
    "content": 1.5,
    "narrow": 1.5,
    "automation": 1.0,
    "new_full": 1.0,
    "rotation": 1.0,
    "coordination": 10.0,
}
# A member's own harvest share from which it inherits its cluster's score in full.
MEMBER_PURPOSE = 0.25
CONTENT_SHARES = (
    "dataset_share",
    "reasoning_share",
    "synthetic_share",
    "grader_share",
    "rewrite_share",
    "jailbreak_share",
)


def _noisy_or(parts: list[pl.Expr]) -> pl.Expr:
    miss = pl.lit(1.0)
    for part in parts:
        miss = miss * (1.0 - part)
    return 1.0 - miss


def _optional(frame: pl.DataFrame, name: str) -> pl.Expr:
    """A [0, 1] feature column, 0 where the frame lacks it (clusters built without it)."""
    if name not in frame.columns:
        return pl.lit(0.0)
    return pl.col(name).fill_null(0.0).cast(pl.Float64).clip(0.0, 1.0)


def cluster_scores(clusters: pl.DataFrame) -> pl.DataFrame:
    """Add ``coordination``, ``purpose`` and ``cluster_score`` (all in [0, 1]) per cluster.

    Coordination is a noisy-or over independent kinds of shared behaviour, each
    discounted by how much benign groups share it too: shared IPs alone (NATs,
    VPN exits) count little; lockstep timing, split dataset coverage, shared
    payment and bulk creation count fully. Purpose is the strongest harvesting
    share of the cluster's requests; a ring of accounts with nothing to harvest
    (a company behind one NAT) scores low however dense it is.
    """
    if clusters.height == 0:
        return clusters.with_columns(
            pl.lit(None, dtype=pl.Float64).alias(c)
            for c in ("coordination", "purpose", SPLIT_EVIDENCE, OPERATOR_EVIDENCE, CLUSTER_SCORE)
        )

    def col(name: str) -> pl.Expr:
        return pl.col(name).fill_null(0.0).cast(pl.Float64).clip(0.0, 1.0)

    # The larger a coordinated group, the less likely it is a coincidence (a research group
    # of four on one campus network is common; twenty accounts are not).
    # Only members that harvest count towards the size, by how evenly they share the harvest
    # (networks.cluster_features): two eval runners on a campus /24 with three quiet new
    # accounts are a pair (one organisation), not a group of five.
    # New accounts running at full rate from their first hours count as well: a ring of
    # throwaway accounts is the group, whatever its requests look like.
    def members(name: str) -> pl.Expr:
        return pl.col(name).cast(pl.Float64) if name in clusters.columns else pl.lit(None)

    purposeful = pl.max_horizontal(
        members("harvesting_members"), members("throwaway_members")
    ).fill_null(pl.col("size").cast(pl.Float64))
    size = pl.min_horizontal(pl.col("size").cast(pl.Float64), purposeful)
    # Two accounts are one organisation as often as not: the factor is 0 for a pair and
    # reaches 1 at twenty.
    size_factor = ((size / 2.0).log() / pl.lit(10.0).log()).clip(0.0, 1.0)
    split = _optional(clusters, "dataset_split")
    # Members asking the same benchmark items again, far more than chance: repeated passes of
    # an evaluation (see networks.dataset_split), not a harvest of new material.
    overlap = _optional(clusters, "dataset_overlap")
    clusters = clusters.with_columns(split.round(12).alias(SPLIT_EVIDENCE))
    # Independent evidence of one operator: infrastructure, lockstep timing, split coverage,
    # bulk creation, ban-and-replace.
    independent = [
        col("density.payment"),
        col("density.synchrony"),
        # Complementary pairs mean nothing where the group as a whole re-asks its items
        # (eval colleagues sweeping different subjects pairwise, the same ones as a group).
        col("density.coverage") * (1.0 - col("dataset_redundancy")) * (1.0 - overlap),
        # Members together sharing far fewer dataset items than chance would give (a ring
        # handing out disjoint slices of one benchmark over many accounts; see
        # networks.dataset_split).
        pl.col(SPLIT_EVIDENCE),
        # Members' request counts far more even than independent senders' (a dispatcher
        # handing one queue round-robin to a pool of accounts; see networks.load_evenness).
        _optional(clusters, "load_evenness"),
        col("density.creation") * col("creation_burst"),
        col("succession_share") * 0.5,
    ]
    # Independent evidence of one operator, as above; the kinds below are not (campuses and
    # NATs share a /24 too, proxy users need not know each other), so a cluster held by them
    # alone is not contained early.
    operator = _noisy_or(independent)
    independent += [
        # Shared addresses: NATs, VPN exits and campuses share them too, so they count
        # only at half strength (and purpose gates the whole score).
        pl.max_horizontal(col("density.ip"), col("density.ip24") * 0.7) * 0.5,
        # Members each rotating through a proxy pool: independent people sharing a popular
        # phrasing do not hide behind dozens of addresses a day.
        _optional(clusters, "rotation_share"),
    ]
    corroboration = _noisy_or(independent)
    # What independent people share too: a popular phrasing ("explain your reasoning
    # before you answer", an eval harness's format), a common TLS stack, adopting a new
    # model the day it is released (evaluators and researchers do it first). These count
    # only as far as independent evidence corroborates them.
    kinds = [
        *independent,
        col("density.template") * col("template_concentration").sqrt() * corroboration,
        col("density.system") * 0.5 * corroboration,
        col("density.tls") * 0.25 * corroboration,
        # Many members moving to a new model within a day of its release, together.
        col("pivot_share") * 0.5 * corroboration,
    ]
    # Harvesting by the cluster's requests and by its median member: a group where two heavy
    # accounts harvest and the rest do not has the purpose of its typical member.
    harvest = (
        pl.min_horizontal(col("harvest_share"), col("member_harvest_share"))
        if "member_harvest_share" in clusters.columns
        else col("harvest_share")
    )
    # A group whose dataset requests are repeated passes over the same items evaluates; the
    # dataset part of its requests is no purpose (its wrappers neither: the harness's format).
    # Its elicitation is (reasoning coercion, jailbreaks...): harnesses do not jailbreak.
    dataset = col("dataset_share") if "dataset_share" in clusters.columns else pl.lit(1.0)
    repeated = 1.0 - overlap * dataset
    elicitation = pl.min_horizontal(
        _optional(clusters, "elicitation_share"), _optional(clusters, "member_elicitation_share")
    )
    # New accounts at full throughput from their first hours (the members' mean score): a
    # purpose of its own, whatever their requests are (throwaway accounts cost money).
    throwaway = _optional(clusters, "throwaway_share")
    purpose = pl.max_horizontal(
        pl.max_horizontal(harvest, col("template_concentration") * 0.5) * repeated,
        elicitation,
        throwaway,
    )
    return clusters.with_columns(
        # Rounded: density sums carry float noise from row order (a shuffled log must give
        # bit-identical risks).
        _noisy_or(kinds).round(12).alias("coordination"),
        operator.round(12).alias(OPERATOR_EVIDENCE),
        purpose.round(12).alias("purpose"),
    ).with_columns(
        (pl.col("coordination") * pl.col("purpose").sqrt() * size_factor)
        .round(12)
        .alias(CLUSTER_SCORE)
    )


def subject_scores(profiles: pl.DataFrame, clusters: pl.DataFrame) -> pl.DataFrame:
    """Profiles (with ``cluster``) plus the component columns, ``logit`` and ``risk``."""
    scored = profiles
    if CLUSTER not in scored.columns:
        scored = scored.with_columns(pl.lit(None, dtype=pl.UInt32).alias(CLUSTER))
    if clusters.height:
        scored = scored.join(
            clusters.select(CLUSTER, CLUSTER_SCORE, OPERATOR_EVIDENCE), on=CLUSTER, how="left"
        )
    else:
        scored = scored.with_columns(
            pl.lit(None, dtype=pl.Float64).alias(c) for c in (CLUSTER_SCORE, OPERATOR_EVIDENCE)
        )
    volume = volume_expr(pl.col("events"))
    regular = (1.2 - pl.col("iat_cv").fill_null(1.2)).clip(0.0, 1.0)
    automation = (
        pl.col("single_turn_share").fill_null(0.5) + pl.col("hour_entropy").fill_null(0.0) + regular
    ) / 3.0
    scored = scored.with_columns(
        pl.col("harvest_share").fill_null(0.0).alias("content"),
        (pl.col("template_top_share").fill_null(0.0) * volume).alias("narrow"),
        (automation * volume).alias("automation"),
        new_full_expr().alias("new_full"),
        rotation_expr().alias("rotation"),
        # A member inherits its cluster's score in proportion to how tightly it is tied in,
        # and to how far it shares the cluster's purpose: a home user behind a residential
        # proxy address, or signed up in the same minutes as a ring, does not harvest.
        (
            pl.col(CLUSTER_SCORE).fill_null(0.0)
            * (
                pl.col("attachment").fill_null(1.0)
                if "attachment" in scored.columns
                else pl.lit(1.0)
            )
            * pl.max_horizontal(
                pl.col("harvest_share").fill_null(0.0) / MEMBER_PURPOSE, new_full_expr()
            ).clip(0.0, 1.0)
        ).alias("coordination"),
    )
    logit = pl.lit(BIAS)
    for name, weight in WEIGHTS.items():
        logit = logit + weight * pl.col(name)
    return scored.with_columns(logit.alias("logit")).with_columns(
        (1.0 / (1.0 + (-pl.col("logit")).exp())).alias("risk")
    )
