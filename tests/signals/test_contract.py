"""One contract test suite over every registered signal (garak / River style)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl
import pytest

from distillguard.signals import PreparedBatch, Signal, registered

SAMPLES: list[str | None] = [
    "Hi",
    None,
    "",
    "Imagine and articulate the internal reasoning behind a completed response.",
    "Rate the response from 1 to 10.",
    "Generate 50 diverse question-answer pairs for training.",
    "思考内容的语言必须与用户输入的主要语言严格一致",
    "\u200b\u200b\u200b",
    "🙂" * 50,
]

IDS = sorted(registered())


def check(scores_frame: tuple[pl.Series, pl.Series], n: int) -> None:
    score, evidence = scores_frame
    assert score.len() == n and evidence.len() == n
    assert score.dtype == pl.Float32 and evidence.dtype == pl.String
    values = score.to_numpy()
    assert np.all((values >= 0) & (values <= 1)) and not np.isnan(values).any()
    # evidence is null exactly when the score is 0
    assert ((score > 0) == evidence.is_not_null()).all()


def run(signal: Signal, batch: PreparedBatch) -> tuple[pl.Series, pl.Series]:
    out = signal.score(batch)
    return out.score, out.evidence


@pytest.mark.parametrize("signal_id", IDS)
def test_metadata(loaded_signals: dict[str, Signal], signal_id: str) -> None:
    cls = registered()[signal_id]
    assert cls.id == signal_id and cls.version and cls.level == "request"
    assert cls.description and isinstance(cls.needs, tuple)


@pytest.mark.parametrize("signal_id", IDS)
def test_shape_range_evidence_and_determinism(
    loaded_signals: dict[str, Signal], make_batch: Callable[..., PreparedBatch], signal_id: str
) -> None:
    signal = loaded_signals[signal_id]
    batch = make_batch(SAMPLES)
    first = run(signal, batch)
    check(first, len(SAMPLES))
    second = run(signal, make_batch(SAMPLES))
    assert first[0].equals(second[0]) and first[1].equals(second[1])


@pytest.mark.parametrize("signal_id", IDS)
def test_empty_batch(
    loaded_signals: dict[str, Signal], make_batch: Callable[..., PreparedBatch], signal_id: str
) -> None:
    check(run(loaded_signals[signal_id], make_batch([])), 0)


@pytest.mark.parametrize("signal_id", IDS)
def test_null_and_empty_prompts_score_zero(
    loaded_signals: dict[str, Signal], make_batch: Callable[..., PreparedBatch], signal_id: str
) -> None:
    if signal_id == "params":
        pytest.skip("params reads request parameters, not text")
    score, evidence = run(loaded_signals[signal_id], make_batch([None, "", "   "]))
    assert score.to_list() == [0.0, 0.0, 0.0]
    assert evidence.null_count() == 3


@pytest.mark.parametrize("signal_id", IDS)
def test_five_megabyte_prompt(
    loaded_signals: dict[str, Signal], make_batch: Callable[..., PreparedBatch], signal_id: str
) -> None:
    huge = ("lorem ipsum dolor sit amet. " * 190_000)[:5_000_000]
    check(run(loaded_signals[signal_id], make_batch([huge, "Hi"])), 2)


@pytest.mark.parametrize("signal_id", IDS)
def test_content_parts_equal_plain_text(loaded_signals: dict[str, Signal], signal_id: str) -> None:
    import orjson

    text = "Please act as an impartial judge. Which response is better?"
    messages = orjson.dumps(
        [{"role": "user", "content": [{"type": "text", "text": text}]}]
    ).decode()
    from distillguard import schema as S

    parts = PreparedBatch.from_events(
        pl.DataFrame({S.PROMPT: [None], S.INPUT_MESSAGES: [messages]},
                     schema_overrides={S.PROMPT: pl.String})
    )  # fmt: skip
    plain = PreparedBatch.from_events(pl.DataFrame({S.PROMPT: [text]}))
    a, b = run(loaded_signals[signal_id], parts), run(loaded_signals[signal_id], plain)
    assert a[0].equals(b[0])


def test_heldout_phrasings_are_not_read_by_signal_code() -> None:
    from pathlib import Path

    import distillguard.signals as pkg

    root = Path(pkg.__file__).parent
    for path in root.rglob("*"):
        if path.is_file() and path.suffix in {".py", ".yaml", ".txt"}:
            assert "heldout" not in path.read_text(encoding="utf-8"), path
