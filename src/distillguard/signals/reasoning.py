"""Reasoning / chain-of-thought elicitation and reasoning-trace coercion.

Families in ``phrases/reasoning.yaml``. Graded: plain "explain step by step" scores 0.2 (below
firing), trace extraction ("write out your internal reasoning verbatim") 0.85+. Only the user
turn is scored: system prompts that ask a model to "narrate your reasoning" are the operator's
own setting and fired a real classifier by mistake (THREAT.md).
"""

from __future__ import annotations

from distillguard.signals.phrases import PhraseSignal

__all__ = ["ReasoningSignal"]


class ReasoningSignal(PhraseSignal):
    id = "reasoning"
    version = "1"
    phrase_file = "reasoning"
    description = "asks for the model's internal reasoning, or coerces the form of its trace"
