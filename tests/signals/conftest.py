"""Shared fixtures: signals are loaded once per session (indexes and classifier are costly)."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl
import pytest

from distillguard import schema as S
from distillguard.signals import PreparedBatch, Signal, SignalRunner, registered
from distillguard.signals.splits import corpus


@pytest.fixture(scope="session")
def runner() -> SignalRunner:
    return SignalRunner.from_config(None)


@pytest.fixture(scope="session")
def loaded_signals(runner: SignalRunner) -> dict[str, Signal]:
    return {s.id: s for s in runner.signals}


@pytest.fixture(scope="session")
def has_corpora() -> bool:
    return bool(corpus("pyrit_jailbreaks")) and bool(corpus("mmlu"))


def batch_of(texts: list[str | None], **columns: list[object]) -> PreparedBatch:
    return PreparedBatch.from_events(
        pl.DataFrame({S.PROMPT: texts, **columns}, schema_overrides={S.PROMPT: pl.String})
    )


@pytest.fixture(scope="session")
def make_batch() -> Callable[..., PreparedBatch]:
    return batch_of


@pytest.fixture(scope="session")
def score_text(loaded_signals: dict[str, Signal]) -> Callable[[str, str], float]:
    def score(signal_id: str, text: str) -> float:
        return float(loaded_signals[signal_id].score(batch_of([text])).score[0])

    return score


def test_registry_is_explicit() -> None:
    assert set(registered()) >= {"reasoning", "synthetic", "grader", "rewrite", "jailbreak",
                                 "dataset", "params"}  # fmt: skip
