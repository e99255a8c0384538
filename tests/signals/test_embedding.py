"""Optional embedding tier: degrades gracefully; merges paraphrased templates when present."""

from __future__ import annotations

import logging

import polars as pl
import pytest

from distillguard import schema as S
from distillguard.signals import SignalRunner
from distillguard.signals import embedding as E

OFF = {"jailbreak": {"enabled": False}, "dataset": {"enabled": False}}


def test_missing_model_keeps_minhash_clusters(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(E, "model_path", lambda: None)
    runner = SignalRunner.from_config({"signals": OFF, "embedding": {"enabled": True}})
    runner.score_batch(pl.DataFrame({S.PROMPT: ["Write a poem about the sea.", "Hi"]}))
    with caplog.at_level(logging.WARNING):
        clusters = runner.finish()
    assert clusters.height == 2 and clusters.get_column("template.cluster").n_unique() == 2
    assert "embedding tier off" in caplog.text


@pytest.mark.slow
def test_paraphrased_templates_merge() -> None:
    if E.load_model() is None:
        pytest.skip("embedding model not available")
    runner = SignalRunner.from_config(
        {"signals": OFF, "embedding": {"enabled": True, "threshold": 0.8}}
    )
    texts = [
        "Generate a multiple-choice question about photosynthesis with four options.",
        "Create a multiple choice question on photosynthesis that has four answer options.",
        "What's the best pizza place in Naples?",
    ]
    ids = runner.score_batch(pl.DataFrame({S.PROMPT: texts})).get_column("template.id").to_list()
    clusters = dict(runner.finish().iter_rows())
    assert clusters[ids[0]] == clusters[ids[1]] != clusters[ids[2]]
