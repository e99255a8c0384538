"""Baselines: each separates an obvious toy attack and respects the target FPR."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from distillguard import schema as S
from distillguard.bench import metrics as M
from distillguard.bench.baselines import subject_features
from distillguard.bench.detector import SubjectLabels, check_scores, make_detector

WORDS = [
    *("apple", "river", "quantum", "garden", "violin", "market", "ocean", "pencil", "rocket"),
    *("castle", "tiger", "yellow", "window", "summer", "coffee", "planet", "bridge", "silver"),
    *("forest", "lantern", "honey", "marble", "engine", "cloud"),
]
START = datetime(2026, 3, 1, tzinfo=UTC)
BASELINES = ("rate", "iforest", "prada", "seat")


def toy_traffic(
    seed: int, *, benign: int = 40, attackers: int = 5, hours: int = 24, per_attacker: int = 240
) -> tuple[pl.DataFrame, SubjectLabels]:
    """Casual, diverse benign users vs. accounts sweeping one templated task at a steady rate."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[datetime, str, str | None, str, str, int]] = []
    subjects: list[tuple[str, str | None, str, bool, str | None]] = []
    for a in range(benign):
        acct = f"s{seed}-user-{a}"
        for i in range(int(rng.integers(5, 40))):
            t = START + timedelta(seconds=float(rng.uniform(0, hours * 3600)))
            prompt = " ".join(rng.choice(WORDS, size=int(rng.integers(4, 14)))) + "?"
            rows.append((t, acct, None, prompt, f"{acct}-{i}", int(rng.integers(50, 600))))
        subjects.append((acct, None, "chat", False, None))
    for a in range(attackers):
        acct = f"s{seed}-bot-{a}"
        for i in range(per_attacker):
            offset = i * hours * 3600 / per_attacker + float(rng.uniform(0, 5))
            t = START + timedelta(seconds=offset)
            x, y = rng.integers(10, 99, size=2)
            prompt = f"Solve step by step and show your reasoning: what is {x} times {y}?"
            rows.append((t, acct, None, prompt, f"{acct}-{i}", 900))
        subjects.append((acct, None, "attack", True, "camp-1"))
    events = pl.DataFrame(
        rows,
        schema=S.frame_schema(
            S.TIMESTAMP, S.ACCOUNT, S.ENDUSER, S.PROMPT, S.EVENT_KEY, S.OUTPUT_TOKENS
        ),
        orient="row",
    ).sort(S.TIMESTAMP)
    labels = pl.DataFrame(
        subjects,
        schema={
            "account_id": pl.Utf8,
            "enduser_id": pl.Utf8,
            "population": pl.Utf8,
            "is_attack": pl.Boolean,
            "campaign_id": pl.Utf8,
        },
        orient="row",
    )
    return events, SubjectLabels.from_frame(labels)


@pytest.fixture(scope="module")
def calibration() -> tuple[pl.DataFrame, SubjectLabels]:
    return toy_traffic(1)


@pytest.fixture(scope="module")
def evaluation() -> tuple[pl.DataFrame, SubjectLabels]:
    return toy_traffic(2)


def _labelled(scores: pl.DataFrame, labels: SubjectLabels) -> pl.DataFrame:
    return labels.subjects.join(scores.drop(S.ENDUSER), on=S.ACCOUNT, how="left")


@pytest.mark.parametrize("name", BASELINES)
def test_baseline_separates_toy_attack(
    name: str,
    calibration: tuple[pl.DataFrame, SubjectLabels],
    evaluation: tuple[pl.DataFrame, SubjectLabels],
) -> None:
    det = make_detector(name, target_fpr=0.05)
    det.fit(*calibration)
    events, labels = evaluation
    scores = check_scores(det.score(events), name)
    assert scores.height == labels.subjects.height  # one row per subject
    frame = _labelled(scores, labels)
    y = frame["is_attack"].to_numpy()
    assert M.auroc(y, frame["risk"].to_numpy()) >= 0.95
    flagged = frame["action"].is_in(["review"]).to_numpy()
    assert M.recall(y, flagged) == 1.0
    assert set(frame["action"].unique().to_list()) <= {"allow", "review"}


@pytest.mark.parametrize("name", BASELINES)
@pytest.mark.parametrize("target", [0.0, 0.05, 0.2])
def test_threshold_respects_target_fpr_on_calibration(
    name: str, target: float, calibration: tuple[pl.DataFrame, SubjectLabels]
) -> None:
    det = make_detector(name, target_fpr=target)
    events, labels = calibration
    det.fit(events, labels)
    frame = _labelled(det.score(events), labels).filter(~pl.col("is_attack"))
    assert frame["action"].is_in(["review"]).mean() <= target + 1e-12


def test_scores_are_stable_across_calls_and_prefixes(
    calibration: tuple[pl.DataFrame, SubjectLabels],
) -> None:
    """Per-event caches must not leak between streams or change full-stream scores."""
    events, labels = calibration
    for name in ("prada", "seat"):
        det = make_detector(name, target_fpr=0.05)
        det.fit(events, labels)
        first = det.score(events).sort(S.ACCOUNT)
        det.score(events.head(events.height // 2))
        other, _ = toy_traffic(9)
        det.score(other)
        again = det.score(events).sort(S.ACCOUNT)
        assert first.equals(again)


def test_baselines_cope_with_optional_columns_missing_and_hostile_text(
    calibration: tuple[pl.DataFrame, SubjectLabels],
) -> None:
    events, labels = calibration
    bare = events.select(S.TIMESTAMP, S.ACCOUNT, S.PROMPT)  # only the required columns
    bare = bare.with_columns(
        pl.when(pl.int_range(pl.len()) % 7 == 0)
        .then(pl.lit("<script>" + "x" * 50_000))
        .when(pl.int_range(pl.len()) % 11 == 0)
        .then(pl.lit(""))
        .otherwise(pl.col(S.PROMPT))
        .alias(S.PROMPT)
    )
    for name in BASELINES:
        det = make_detector(name, target_fpr=0.05)
        det.fit(bare, labels)
        out = check_scores(det.score(bare), name)
        assert out.height == labels.subjects.height
        assert out["risk"].is_finite().all()


def test_subject_features_one_row_per_subject_including_router_endusers() -> None:
    events = pl.DataFrame(
        {
            S.TIMESTAMP: [START, START + timedelta(minutes=1), START + timedelta(hours=2)],
            S.ACCOUNT: ["router", "router", "router"],
            S.ENDUSER: ["u1", "u2", "u1"],
            S.PROMPT: ["a", "b", "a"],
        }
    )
    feats = subject_features(events)
    assert feats.height == 2
    assert feats.select(pl.exclude(S.ACCOUNT, S.ENDUSER)).null_count().sum_horizontal().item() == 0


def test_unfitted_isolation_forest_refuses_to_score(
    calibration: tuple[pl.DataFrame, SubjectLabels],
) -> None:
    det = make_detector("iforest", target_fpr=0.05)
    with pytest.raises(RuntimeError):
        det.score(calibration[0])


def test_unknown_detector_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown detector"):
        make_detector("nope", target_fpr=0.01)
