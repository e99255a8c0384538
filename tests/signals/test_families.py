"""Dataset membership, jailbreak templates, request parameters."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl
import pytest

from distillguard import schema as S
from distillguard.signals import PreparedBatch, Signal, dataset_sizes
from distillguard.signals.splits import corpus, split_of


def test_dataset_sizes_cover_benchmarks(has_corpora: bool) -> None:
    if not has_corpora:
        pytest.skip("data packages not installed")
    sizes = dataset_sizes()
    assert sizes.get("mmlu", 0) > 1000 and sizes.get("humaneval", 0) > 100


@pytest.mark.parametrize("name", ["mmlu", "gsm8k", "medqa", "humaneval"])
def test_benchmark_item_matches_exactly_and_wrapped(
    loaded_signals: dict[str, Signal],
    make_batch: Callable[..., PreparedBatch],
    has_corpora: bool,
    name: str,
) -> None:
    if not has_corpora:
        pytest.skip("data packages not installed")
    item = corpus(name)[3]
    wrapped = f"Please solve this and reply in JSON.\n\n{item.text}\n\nThink carefully."
    out = loaded_signals["dataset"].score(make_batch([item.text, wrapped, "Hi"]))
    names, items = out.extra
    assert out.score[0] == 1.0 and names[0] == name and items[0] == item.item_id
    assert out.score[1] >= 0.5 and names[1] == name and items[1] == item.item_id
    assert out.score[2] == 0.0 and names[2] is None


def test_known_jailbreak_template_variant_matches(
    loaded_signals: dict[str, Signal], make_batch: Callable[..., PreparedBatch], has_corpora: bool
) -> None:
    if not has_corpora:
        pytest.skip("data packages not installed")
    template = next(c for c in corpus("pyrit_jailbreaks") if len(c.text) > 800)
    variant = template.text.replace("{{ prompt }}", "how do I bake bread?") + " Thanks!"
    out = loaded_signals["jailbreak"].score(make_batch([variant]))
    assert out.score[0] >= 0.5 and out.evidence[0] is not None


def test_jailbreak_fpr_smoke_on_chat(
    loaded_signals: dict[str, Signal], make_batch: Callable[..., PreparedBatch], has_corpora: bool
) -> None:
    """A small slice of the TUNE split: the full eval-split figure is in docs/signals.md."""
    if not has_corpora:
        pytest.skip("data packages not installed")
    chat = [c.text for c in corpus("sharegpt") if split_of(f"sharegpt:{c.item_id}") == "tune"]
    batch = make_batch(chat[:500])
    for sid in ("reasoning", "synthetic", "grader", "rewrite", "jailbreak", "dataset"):
        fired = (loaded_signals[sid].score(batch).score >= 0.5).sum()
        assert fired <= 10, sid  # 2% on 500 rows: far above the measured rates


def test_params_signal(loaded_signals: dict[str, Signal]) -> None:
    events = pl.DataFrame(
        {
            S.PROMPT: ["a", "b", "c", "d"],
            S.LOGPROBS: [True, None, False, True],
            S.TOP_LOGPROBS: [20, None, None, 5],
            S.CHOICE_COUNT: [8, 1, None, 1],
            S.MAX_TOKENS: [32768, 100, None, 500],
            S.REASONING_LEVEL: ["max", "low", None, None],
            S.TEMPERATURE: [0.0, 0.7, None, 1.0],
        }
    )
    out = loaded_signals["params"].score(PreparedBatch.from_events(events))
    s = out.score.to_list()
    assert s[0] > s[3] > 0 and s[1] == 0 and s[2] == 0
    assert "logprobs" in out.evidence[0] and "n>1" in out.evidence[0]


def test_params_signal_tolerates_missing_and_bad_columns(loaded_signals: dict[str, Signal]) -> None:
    events = pl.DataFrame({S.PROMPT: ["a"], S.CHOICE_COUNT: ["not a number"]})
    out = loaded_signals["params"].score(PreparedBatch.from_events(events))
    assert out.score.to_list() == [0.0]


def test_per_model_cap() -> None:
    from distillguard.signals.params import ParamsSignal

    sig = ParamsSignal(max_tokens_cap={"*": 100_000, "small": 4096})
    events = pl.DataFrame(
        {S.PROMPT: ["a", "b"], S.MODEL: ["small", "big"], S.MAX_TOKENS: [4096, 4096]}
    )
    out = sig.score(PreparedBatch.from_events(events))
    assert out.score[0] > 0 and out.score[1] == 0


def test_params_rejects_unknown_weight() -> None:
    from distillguard.signals import SignalConfigError
    from distillguard.signals.params import ParamsSignal

    with pytest.raises(SignalConfigError):
        ParamsSignal(weights={"logprob": 0.5})
    with pytest.raises(SignalConfigError):
        ParamsSignal(max_tokens_cap=4096)
