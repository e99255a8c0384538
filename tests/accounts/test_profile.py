"""Subject profiles: one feature at a time, on hand-built frames, positives and hard negatives."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from distillguard import schema as S
from distillguard.accounts import (
    PROFILE_COLUMNS,
    infer_releases,
    pivot_features,
    subject_profiles,
    with_subject,
)

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    return pl.DataFrame(rows, infer_schema_length=None)


def ev(account: str, minutes: float, **extra: object) -> dict[str, object]:
    return {S.TIMESTAMP: T0 + timedelta(minutes=minutes), S.ACCOUNT: account, **extra}


def profile_of(profiles: pl.DataFrame, account: str, enduser: str | None = None) -> dict:
    sel = profiles.filter(pl.col(S.ACCOUNT) == account)
    sel = sel.filter(
        pl.col(S.ENDUSER).is_null() if enduser is None else pl.col(S.ENDUSER) == enduser
    )
    assert sel.height == 1
    return sel.row(0, named=True)


def test_every_profile_column_is_present_and_one_row_per_subject() -> None:
    f = frame([ev("a", 1), ev("a", 2), ev("b", 3, **{S.ENDUSER: "u1"}), ev("b", 4)])
    p = subject_profiles(f)
    assert p.height == 3
    assert set(PROFILE_COLUMNS) <= set(p.columns)


def test_required_columns_are_checked() -> None:
    with pytest.raises(ValueError, match="account"):
        subject_profiles(pl.DataFrame({S.TIMESTAMP: [T0]}))


def test_empty_frame_gives_empty_profiles() -> None:
    empty = pl.DataFrame(schema={S.TIMESTAMP: pl.Datetime("us", "UTC"), S.ACCOUNT: pl.Utf8})
    assert subject_profiles(empty).height == 0


def test_scheduled_bot_is_regular_and_round_the_clock_human_is_not() -> None:
    rng = random.Random(1)
    rows = [ev("bot", i * 10.0, **{S.TURNS: 1}) for i in range(24 * 6)]
    t = 9 * 60.0
    for _ in range(60):  # office hours, bursty, multi-turn
        t += rng.expovariate(1 / 3.0) if rng.random() < 0.8 else rng.uniform(60, 200)
        rows.append(ev("human", t % (24 * 60) if t < 24 * 60 else 9 * 60 + t % 480, **{S.TURNS: 4}))
    p = subject_profiles(frame(rows))
    bot, human = profile_of(p, "bot"), profile_of(p, "human")
    assert bot["iat_cv"] < 0.05 < human["iat_cv"]
    assert bot["hour_entropy"] > 0.99 > human["hour_entropy"]
    assert bot["single_turn_share"] == 1.0 and human["single_turn_share"] == 0.0


def test_new_account_at_full_throughput() -> None:
    created = T0 + timedelta(hours=2)
    rows = [ev("a", 0)]  # the window starts here
    rows += [ev("new", 120 + i, **{S.ACCOUNT_CREATED: created}) for i in range(300)]
    rows += [ev("old", 60 * i, **{S.ACCOUNT_CREATED: T0 - timedelta(days=300)}) for i in range(5)]
    p = subject_profiles(frame(rows))
    new, old = profile_of(p, "new"), profile_of(p, "old")
    assert new["new_account"] and not old["new_account"]
    assert new["first_hours_events"] == 300
    assert new["age_hours_at_first"] == pytest.approx(0.0)
    assert old["first_hours_events"] == 0


def test_router_end_users_are_profiled_as_users() -> None:
    rows = [ev("router", i, **{S.ENDUSER: f"u{i % 3}", S.ROUTER: "r"}) for i in range(30)]
    p = subject_profiles(frame(rows))
    assert p.height == 3
    assert p["router_user"].all()
    assert p["events"].to_list() == [10, 10, 10]


def test_concentration_content_shares_and_parameter_cap() -> None:
    rows = []
    for i in range(100):
        rows.append(
            ev(
                "farm",
                i,
                **{
                    "template.cluster": i % 2,
                    "dataset.name": "mmlu",
                    "dataset.item": str(i),
                    "signal.reasoning": 0.9 if i % 4 == 0 else 0.1,
                    S.MAX_TOKENS: 8192,
                    S.MODEL: "m",
                },
            )
        )
    for i in range(100):
        rows.append(
            ev("chat", i, **{"template.cluster": 1000 + i, S.MAX_TOKENS: 512, S.MODEL: "m"})
        )
    p = subject_profiles(frame(rows), dataset_sizes={"mmlu": 1000})
    farm, chat = profile_of(p, "farm"), profile_of(p, "chat")
    assert farm["template_top_share"] == 1.0 and chat["template_top_share"] == pytest.approx(0.03)
    assert farm["dataset_share"] == 1.0 and farm["harvest_share"] == 1.0
    assert farm["reasoning_share"] == pytest.approx(0.25)
    assert farm["top_dataset"] == "mmlu" and farm["top_dataset_coverage"] == pytest.approx(0.1)
    assert farm["max_tokens_cap_share"] == 1.0 and chat["max_tokens_cap_share"] == 0.0
    assert chat["harvest_share"] == 0.0


def test_profiles_use_event_time_only_shuffled_input_same_result() -> None:
    rng = random.Random(7)
    rows = [
        ev(f"a{rng.randint(0, 9)}", rng.uniform(0, 2000), **{"template.cluster": rng.randint(0, 5)})
        for _ in range(500)
    ]
    f = frame(rows)
    a = subject_profiles(f)
    b = subject_profiles(f.sample(fraction=1.0, shuffle=True, seed=3))
    assert a.equals(b)


def test_pivot_to_a_new_model_within_a_day() -> None:
    release = T0 + timedelta(hours=10)
    rows = [ev(a, i * 20, **{S.MODEL: "old"}) for a in ("piv", "stay") for i in range(25)]
    rows += [ev("piv", 600 + i * 5, **{S.MODEL: "new"}) for i in range(40)]
    rows += [ev("stay", 600 + i * 5, **{S.MODEL: "old"}) for i in range(40)]
    f = with_subject(frame(rows))
    assert infer_releases(f) == {"new": release}
    piv = pivot_features(f, {"new": release}).join(
        f.select("subject.idx", S.ACCOUNT).unique(), on="subject.idx"
    )
    by = {r[S.ACCOUNT]: r for r in piv.iter_rows(named=True)}
    assert by["piv"]["pivoted"] and not by["stay"]["pivoted"]
    assert by["piv"]["pivot_hours"] == pytest.approx(0.0)
