"""detect/calibrate end to end on a small hand-built world: a ring and hard negatives."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from distillguard import schema as S
from distillguard.decisions import (
    Detection,
    DetectionConfig,
    SubjectDecision,
    calibrate,
    detect,
)
from distillguard.records import Action

T0 = datetime(2026, 3, 2, tzinfo=UTC)
FLAGGED = ("review", "throttle", "downgrade", "block")
CONFIG = DetectionConfig(dataset_sizes={"bench": 600})


def world(seed: int, *, ring: bool = True) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Events and labels (account, enduser, population)."""
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    labels: list[tuple[str, str | None, str]] = []

    def add(acct: str, minute: float, eu: str | None = None, **extra: object) -> None:
        rows.append(
            {
                S.TIMESTAMP: T0 + timedelta(minutes=minute),
                S.ACCOUNT: acct,
                S.ENDUSER: eu,
                S.USER_AGENT: "OpenAI/Python 1.40.0",
                **extra,
            }
        )

    for i in range(150):  # chat users, residential, own payment, bursty, multi-turn
        a = f"s{seed}-chat{i}"
        labels.append((a, None, "chat"))
        start = rng.uniform(0, 1200)
        for _ in range(rng.randint(2, 25)):
            start += rng.expovariate(1 / 4)
            add(
                a,
                start,
                **{
                    S.CLIENT_ADDRESS: f"81.{i}.{seed}.{rng.randint(1, 250)}",
                    S.PAYMENT: f"pm-{a}",
                    S.TURNS: rng.randint(1, 6),
                    "template.cluster": rng.randint(0, 10**6),
                },
            )
    for i in range(50):  # a university: 50 accounts behind two NAT IPs
        a = f"s{seed}-uni{i}"
        labels.append((a, None, "shared_nat"))
        for _ in range(rng.randint(3, 15)):
            add(
                a,
                rng.uniform(480, 1080),
                **{
                    S.CLIENT_ADDRESS: f"130.1.1.{rng.randint(1, 2)}",
                    S.PAYMENT: f"pm-{a}",
                    S.TURNS: rng.randint(1, 4),
                    "template.cluster": rng.randint(0, 10**6),
                },
            )
    a = f"s{seed}-batch"  # enterprise batch: one template, 24/7, high volume
    labels.append((a, None, "enterprise_batch"))
    for k in range(1400):
        add(
            a,
            k,
            **{
                S.CLIENT_ADDRESS: "52.0.0.9",
                S.PAYMENT: "pm-ent",
                S.TURNS: 1,
                "template.cluster": 424242,
            },
        )
    for e in range(2):  # eval runners: the whole benchmark, twice
        a = f"s{seed}-eval{e}"
        labels.append((a, None, "eval_runner"))
        for k in range(600):
            add(
                a,
                200 + k,
                **{
                    S.CLIENT_ADDRESS: f"34.1.{e}.1",
                    S.PAYMENT: f"pm-eval{e}",
                    S.TURNS: 1,
                    "template.cluster": 777,
                    "dataset.name": "bench",
                    "dataset.item": str(k),
                },
            )
    for u in range(40):  # a router's benign end users
        labels.append((f"s{seed}-router", f"u{u}", "router"))
        for _ in range(rng.randint(2, 12)):
            add(
                f"s{seed}-router",
                rng.uniform(0, 1400),
                f"u{u}",
                **{
                    S.ROUTER: "openrouter",
                    S.CLIENT_ADDRESS: "3.3.3.3",
                    S.TURNS: 2,
                    "template.cluster": rng.randint(0, 10**6),
                },
            )
    if ring:  # 12 accounts, 3 payment cards, split the benchmark, CoT wrappers, lockstep
        for r in range(12):
            a = f"s{seed}-ring{r}"
            labels.append((a, None, "attack"))
            for k in range(50):
                add(
                    a,
                    60 + k * 20 + r % 3,
                    **{
                        S.CLIENT_ADDRESS: f"45.{rng.randint(0, 3)}.0.{r}",
                        S.PAYMENT: f"pm-ring{r % 3}",
                        S.TURNS: 1,
                        "template.cluster": 9000 + k % 3,
                        "signal.reasoning": 0.9,
                        "dataset.name": "bench",
                        "dataset.item": str(r * 50 + k),
                    },
                )
    frame = pl.DataFrame(rows, infer_schema_length=None)
    lab = pl.DataFrame(
        labels, schema={S.ACCOUNT: pl.Utf8, S.ENDUSER: pl.Utf8, "population": pl.Utf8}, orient="row"
    )
    return frame, lab


@pytest.fixture(scope="module")
def detection() -> tuple[Detection, pl.DataFrame]:
    cal_frame, cal_labels = world(1)
    cal = calibrate(cal_frame, cal_labels.filter(pl.col("population") != "attack"), CONFIG)
    frame, labels = world(2)
    return detect(frame, calibration=cal, config=CONFIG), labels


def test_the_ring_is_flagged_as_one_campaign_and_hard_negatives_are_not(
    detection: tuple[Detection, pl.DataFrame],
) -> None:
    det, labels = detection
    judged = labels.join(det.subjects, on=[S.ACCOUNT, S.ENDUSER], nulls_equal=True)
    assert judged.height == labels.height == det.subjects.height
    ring = judged.filter(pl.col("population") == "attack")
    assert ring["action"].is_in(FLAGGED).all()
    assert ring["campaign_id"].n_unique() == 1 and ring["campaign_id"][0] is not None
    benign = judged.filter(pl.col("population") != "attack")
    assert not benign["action"].is_in(FLAGGED).any()
    assert len(det.campaigns) == 1 and len(det.campaigns[0].members) == 12


def test_every_flagged_subject_and_campaign_has_evidence_with_numbers(
    detection: tuple[Detection, pl.DataFrame],
) -> None:
    det, _ = detection
    flagged = [d for d in det.decisions if d.action.at_least(Action.REVIEW)]
    assert flagged
    for d in flagged:
        assert isinstance(d, SubjectDecision)
        assert d.decision.evidence and any(ch.isdigit() for ch in d.decision.reasons)
    text = det.campaigns[0].evidence[0].text
    assert "12 coordinated subjects" in text and "%" in text


def test_outputs_follow_the_contract(detection: tuple[Detection, pl.DataFrame]) -> None:
    det, _ = detection
    for col in (S.ACCOUNT, S.ENDUSER, "risk", "action", "campaign_id", "reasons", "events"):
        assert col in det.subjects.columns
    assert det.subjects["risk"].is_between(0.0, 1.0).all()
    assert set(det.subjects["action"].unique()) <= {a.value for a in Action}
    assert {"src_account", "dst_account", "kind", "weight"} <= set(det.edges.columns)
    assert "user_agent" not in set(det.edges["kind"])
    assert det.decided_at == det.subjects["last_ts"].max()
    assert det.calibrated


def test_shuffled_input_gives_the_same_result() -> None:
    frame, _ = world(3)
    a = detect(frame, config=CONFIG)
    b = detect(frame.sample(fraction=1.0, shuffle=True, seed=5), config=CONFIG)
    cols = [S.ACCOUNT, S.ENDUSER, "risk", "action", "campaign_id", "reasons"]
    assert a.subjects.select(cols).equals(b.subjects.select(cols))
    assert a.edges.equals(b.edges)


def test_categorical_columns_give_the_same_result_as_text() -> None:
    # The scan hands detection repeated strings as Categorical (pipeline._compact) and
    # detection keeps them so: the decisions must be those of the text frame.
    frame, _ = world(3)
    text = [c for c, t in frame.schema.items() if t == pl.String and c != S.ACCOUNT]
    assert {S.CLIENT_ADDRESS, S.PAYMENT, S.ROUTER, "dataset.item"} <= set(text)
    categorical = frame.with_columns(pl.col(text).cast(pl.Categorical))
    a = detect(frame, config=CONFIG)
    b = detect(categorical, config=CONFIG)
    cols = [S.ACCOUNT, S.ENDUSER, "risk", "action", "campaign_id", "reasons"]
    assert a.subjects.select(cols).equals(b.subjects.select(cols))
    assert a.edges.equals(b.edges)
    assert a.campaigns  # the ring is found either way
    for x, y in zip(a.campaigns, b.campaigns, strict=True):
        assert x.members == y.members
        assert [e.text for e in x.evidence] == [e.text for e in y.evidence]
        # Sums over groups may run in another order: equal up to float noise.
        assert x.score == pytest.approx(y.score, abs=1e-9)


def test_uncalibrated_detect_is_conservative_and_says_so() -> None:
    frame, _ = world(4, ring=False)
    det = detect(frame, config=CONFIG)
    assert not det.calibrated
    assert not det.subjects["action"].is_in(FLAGGED).any()


def test_a_single_event_and_an_empty_frame() -> None:
    one = pl.DataFrame({S.TIMESTAMP: [T0], S.ACCOUNT: ["a"]})
    det = detect(one, config=CONFIG)
    assert det.subjects.height == 1 and det.subjects["action"][0] in ("allow", "monitor")
    empty = one.head(0)
    det = detect(empty, config=CONFIG)
    assert det.subjects.height == 0 and det.decisions == [] and det.campaigns == []


def test_hostile_and_malformed_values_do_not_break_detection() -> None:
    rows = {
        S.TIMESTAMP: [
            "2026-03-02T00:00:00Z",
            "2026-03-02T00:01:00Z",
            None,
            "garbage",
            "2026-03-02T00:03:00Z",
        ],
        S.ACCOUNT: ["a", "a", "b", "c", None],
        S.CLIENT_ADDRESS: ["::1", "999.1.1.1", "not-an-ip", "", "1.2.3.4"],
        S.MAX_TOKENS: [-5, 10**12, None, 0, 1],
        "signal.reasoning": [float("nan"), 7.0, -1.0, 0.5, None],
        "template.cluster": [None, 1, 1, 1, 1],
    }
    det = detect(pl.DataFrame(rows), config=CONFIG)
    assert set(det.subjects[S.ACCOUNT].to_list()) == {"a"}  # unattributable rows left out
    assert det.subjects["risk"].is_between(0.0, 1.0).all()
    assert det.subjects["reasoning_share"].max() <= 1.0


def test_a_shared_template_alone_is_weak_coordination_but_corroborated_it_counts() -> None:
    from distillguard.decisions.score import cluster_scores

    base = {
        "cluster": [0, 1],
        "size": [20, 20],
        "density.template": [0.9, 0.9],
        "template_concentration": [0.8, 0.8],
        "density.ip24": [0.0, 0.9],
        "harvest_share": [1.0, 1.0],
        "dataset_redundancy": [0.0, 0.0],
    }
    for name in ("payment", "synchrony", "coverage", "creation", "system", "ip", "tls"):
        base[f"density.{name}"] = [0.0, 0.0]
    for name in ("creation_burst", "succession_share", "pivot_share"):
        base[name] = [0.0, 0.0]
    scored = cluster_scores(pl.DataFrame(base))
    popular_phrase, ring = scored["coordination"].to_list()
    assert popular_phrase < 0.05
    assert ring > 0.4


def test_two_accounts_sharing_everything_are_an_organisation_not_a_ring() -> None:
    from distillguard.decisions.score import cluster_scores

    row: dict[str, list[float]] = {"cluster": [0, 1], "size": [2, 20]}
    for name in ("payment", "synchrony", "coverage", "creation", "system", "ip", "ip24", "tls"):
        row[f"density.{name}"] = [0.0, 0.0]
    row["density.payment"] = [1.0, 1.0]
    for name in ("creation_burst", "succession_share", "pivot_share", "dataset_redundancy"):
        row[name] = [0.0, 0.0]
    row["harvest_share"] = [1.0, 1.0]
    row["template_concentration"] = [0.5, 0.5]
    row["density.template"] = [0.0, 0.0]
    pair, ring = cluster_scores(pl.DataFrame(row))["cluster_score"].to_list()
    assert pair == 0.0 and ring == 1.0
