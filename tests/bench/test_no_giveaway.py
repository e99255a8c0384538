"""No single raw field may give attackers away (DistillBench must be hard).

For each raw request field alone, aggregate it per subject (modal value for
categories, mean for numbers), fit a depth-2 decision tree with 5-fold
cross-validation (categories target-encoded inside each training fold) and
require subject-level AUROC < 0.85. Behaviour (volumes, timing, templates
shared across accounts) is what detectors are for; raw metadata must overlap.
The prompt template is measured and logged but not asserted (see REPORTED);
``test_template_overlap_is_real`` checks that benign subjects share templates too.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl
import pytest

from distillguard import schema as S
from distillguard.bench.simulate import simulate
from distillguard.bench.simulate.library import standin_library

log = logging.getLogger(__name__)

LIMIT = 0.85
# Measured and logged, not asserted: a template shared across a campaign's accounts is
# the coordination signature detectors must find ("a benign-looking prompt sent tens of
# thousands of times across hundreds of coordinated accounts", THREAT.md). It is
# cross-subject behaviour, like volume; docs/distillbench.md ("Fields") has the numbers.
REPORTED = ("prompt_template",)
CATEGORICAL = (
    S.USER_AGENT, S.ASN, S.AS_ORG, S.IP_TYPE, S.COUNTRY, S.MODEL, S.ACCOUNT_TIER,
    S.TLS_FINGERPRINT, S.REASONING_LEVEL, S.MAX_TOKENS, S.TEMPERATURE, S.SYSTEM,
    "prompt_template",
)  # fmt: skip
NUMERIC = (
    S.MAX_TOKENS, S.TEMPERATURE, S.CHOICE_COUNT, S.LOGPROBS, S.TOP_LOGPROBS, S.SEED,
    "account_age_days",
)  # fmt: skip
SUBJECT = (S.ACCOUNT, S.ENDUSER)


def _read(out: Path) -> pl.DataFrame:
    events = pl.read_parquet(out / "events.parquet")
    labels = pl.read_parquet(out / "labels" / "events.parquet")
    return events.with_columns(
        is_attack=labels["campaign_id"].is_not_null(),
        account_age_days=(pl.col(S.TIMESTAMP) - pl.col(S.ACCOUNT_CREATED)).dt.total_seconds()
        / 86400.0,
        # A crude template: the prompt's first 40 characters with digits masked.
        prompt_template=pl.col(S.PROMPT).str.slice(0, 40).str.replace_all(r"\d", "0"),
    )


def field_aurocs(events: pl.DataFrame, seed: int = 0) -> dict[str, float]:
    """Cross-validated subject-level AUROC of a depth-2 tree on each raw field alone."""
    import numpy as np
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import TargetEncoder
    from sklearn.tree import DecisionTreeClassifier

    events = events.with_columns(pl.col(S.ENDUSER).fill_null(""))
    y_frame = events.group_by(SUBJECT).agg(pl.col("is_attack").max()).sort(SUBJECT)
    y = y_frame["is_attack"].to_numpy()
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    out: dict[str, float] = {}
    for field in CATEGORICAL:
        modal = (
            events.group_by(SUBJECT)
            .agg(pl.col(field).cast(pl.Utf8).fill_null("<null>").mode().sort().first())
            .sort(SUBJECT)
        )
        x = modal[field].to_numpy().reshape(-1, 1)
        model = make_pipeline(
            TargetEncoder(target_type="binary", cv=KFold(5, shuffle=True, random_state=seed)),
            DecisionTreeClassifier(max_depth=2, random_state=seed),
        )
        p = cross_val_predict(model, x, y, cv=cv, method="predict_proba")[:, 1]
        out[f"{field} (mode)"] = float(roc_auc_score(y, p))
    # Label-free view of the template: how many subjects share this subject's modal
    # template (framework prompts and eval formats are shared by benign apps too).
    modal = (
        events.group_by(SUBJECT).agg(pl.col("prompt_template").mode().sort().first()).sort(SUBJECT)
    )
    shared = modal.join(
        modal.group_by("prompt_template").len(), on="prompt_template", how="left"
    ).sort(SUBJECT)
    x = np.log1p(shared["len"].to_numpy().astype(float)).reshape(-1, 1)
    tree = DecisionTreeClassifier(max_depth=2, random_state=seed)
    p = cross_val_predict(tree, x, y, cv=cv, method="predict_proba")[:, 1]
    out["prompt_template sharing (subjects per modal template)"] = float(roc_auc_score(y, p))
    for field in NUMERIC:
        mean = (
            events.group_by(SUBJECT)
            .agg(pl.col(field).cast(pl.Float64).fill_null(-1.0).mean())
            .sort(SUBJECT)
        )
        x = np.nan_to_num(mean[field].to_numpy()).reshape(-1, 1)
        tree = DecisionTreeClassifier(max_depth=2, random_state=seed)
        p = cross_val_predict(tree, x, y, cv=cv, method="predict_proba")[:, 1]
        out[f"{field} (mean)"] = float(roc_auc_score(y, p))
    return out


def _check(aurocs: dict[str, float]) -> None:
    for name, auc in sorted(aurocs.items(), key=lambda kv: -kv[1]):
        log.info("AUROC %.3f  %s", auc, name)
    too_high = {
        k: round(v, 3) for k, v in aurocs.items() if v >= LIMIT and not k.startswith(REPORTED)
    }
    assert not too_high, f"raw fields that give attackers away: {too_high}"


def test_no_single_raw_field_gives_attackers_away_small(tmp_path: Path) -> None:
    simulate("small", seed=7, out=tmp_path, fmt="parquet", library=standin_library())
    events = _read(tmp_path)
    assert events["is_attack"].any() and not events["is_attack"].all()
    _check(field_aurocs(events))


def test_template_overlap_is_real(tmp_path: Path) -> None:
    simulate("small", seed=7, out=tmp_path, fmt="parquet", scale=0.5, library=standin_library())
    events = _read(tmp_path).with_columns(pl.col(S.ENDUSER).fill_null(""))
    modal = events.group_by(SUBJECT).agg(
        pl.col("prompt_template").mode().sort().first(), pl.col("is_attack").max()
    )
    sharing = modal.join(modal.group_by("prompt_template").len(), on="prompt_template")
    benign_shared = sharing.filter(~pl.col("is_attack") & (pl.col("len") >= 5)).height
    # Framework prompts and downstream apps behind routers: many benign subjects share.
    assert benign_shared >= 0.1 * sharing.filter(~pl.col("is_attack")).height


def test_the_check_itself_catches_a_giveaway(tmp_path: Path) -> None:
    simulate("small", seed=7, out=tmp_path, fmt="parquet", scale=0.3, library=standin_library())
    events = _read(tmp_path).with_columns(
        pl.when("is_attack").then(pl.lit("attacker-sdk/1.0")).otherwise(pl.col(S.USER_AGENT))
        .alias(S.USER_AGENT)
    )  # fmt: skip
    assert field_aurocs(events)[f"{S.USER_AGENT} (mode)"] > 0.95


@pytest.mark.slow
def test_no_single_raw_field_gives_attackers_away_default(tmp_path: Path) -> None:
    simulate("default", seed=2, out=tmp_path, fmt="parquet")
    _check(field_aurocs(_read(tmp_path)))
