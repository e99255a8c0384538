"""Request parameters that harvesting pipelines set and ordinary chat traffic rarely does.

logprobs / top_logprobs give soft labels for distillation; n > 1 samples many completions per
prompt (best-of-n and preference data); max_tokens at the model's cap and maximum reasoning
effort maximise the text harvested per request. Each is weak alone (researchers use them too),
so weights stay low and combine by noisy-or.
"""

from __future__ import annotations

from typing import Any, ClassVar

import polars as pl

from distillguard import schema as S
from distillguard.signals.base import Signal, SignalConfigError, SignalScores, combine_evidence
from distillguard.signals.text import PreparedBatch

__all__ = ["ParamsSignal"]


class ParamsSignal(Signal):
    id = "params"
    version = "1"
    needs = (S.LOGPROBS, S.TOP_LOGPROBS, S.CHOICE_COUNT, S.MAX_TOKENS, S.MODEL, S.REASONING_LEVEL)
    description = "request parameters typical of output harvesting (logprobs, n>1, max caps)"
    defaults: ClassVar[dict[str, Any]] = {
        # Per-model max_tokens cap; "*" applies to models not listed.
        "max_tokens_cap": {"*": 32_768},
        "cap_fraction": 0.95,
        "weights": {
            "logprobs": 0.35,
            "top_logprobs": 0.45,
            "multi_choice": 0.3,
            "max_tokens_cap": 0.25,
            "max_reasoning": 0.2,
            "zero_temperature_logprobs": 0.2,
        },
        "max_reasoning_levels": ["max", "maximum", "xhigh", "high"],
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        unknown = set(self.params["weights"]) - set(self.defaults["weights"])
        if unknown:
            raise SignalConfigError(f"signal 'params': unknown weight(s) {sorted(unknown)}")
        if not isinstance(self.params["max_tokens_cap"], dict):
            raise SignalConfigError("signal 'params': max_tokens_cap must map model -> cap")

    def _col(self, batch: PreparedBatch, name: str, dtype: Any) -> pl.Series:
        col = batch.event_column(name)
        if col is None:
            return pl.Series(name, [None] * batch.height, dtype=dtype)
        try:
            return col.cast(dtype, strict=False)
        except pl.exceptions.PolarsError:
            return pl.Series(name, [None] * batch.height, dtype=dtype)

    def score(self, batch: PreparedBatch) -> SignalScores:
        w = {**self.defaults["weights"], **self.params["weights"]}
        caps: dict[str, int] = dict(self.params["max_tokens_cap"])
        default_cap = int(caps.get("*", 32_768))
        frame = pl.DataFrame(
            {
                "logprobs": self._col(batch, S.LOGPROBS, pl.Boolean),
                "top": self._col(batch, S.TOP_LOGPROBS, pl.Int64),
                "n": self._col(batch, S.CHOICE_COUNT, pl.Int64),
                "max_tokens": self._col(batch, S.MAX_TOKENS, pl.Int64),
                "model": self._col(batch, S.MODEL, pl.String),
                "level": self._col(batch, S.REASONING_LEVEL, pl.String),
                "temperature": self._col(batch, S.TEMPERATURE, pl.Float64),
            }
        )
        cap = pl.col("model").replace_strict(
            {k: v for k, v in caps.items() if k != "*"}, default=default_cap, return_dtype=pl.Int64
        )
        levels = [str(x).lower() for x in self.params["max_reasoning_levels"]]
        cues = {
            "logprobs": (pl.col("logprobs").fill_null(False), "requests token logprobs"),
            "top_logprobs": (
                pl.col("top").fill_null(0) > 0,
                "requests top-k alternatives per token (top_logprobs)",
            ),
            "multi_choice": (pl.col("n").fill_null(1) > 1, "requests several completions (n>1)"),
            "max_tokens_cap": (
                pl.col("max_tokens").fill_null(0) >= cap * float(self.params["cap_fraction"]),
                "max_tokens at the model's cap",
            ),
            "max_reasoning": (
                pl.col("level").str.to_lowercase().is_in(levels).fill_null(False),
                "maximum reasoning effort",
            ),
            "zero_temperature_logprobs": (
                (pl.col("temperature").fill_null(1.0) == 0.0)
                & (pl.col("logprobs").fill_null(False) | (pl.col("top").fill_null(0) > 0)),
                "greedy decoding with logprobs (soft-label harvesting fingerprint)",
            ),
        }
        miss = pl.lit(1.0)
        parts = []
        for name, (cond, words) in cues.items():
            weight = float(w[name])
            miss = miss * pl.when(cond).then(1.0 - weight).otherwise(1.0)
            parts.append(pl.when(cond).then(pl.lit(words)).otherwise(None))
        out = frame.select((1.0 - miss).alias("score"), combine_evidence(parts).alias("evidence"))
        return SignalScores.build(out.get_column("score"), out.get_column("evidence"))
