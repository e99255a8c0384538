"""Reward-model / grader use: rubric scoring, numeric ratings, pairwise preference, critiques."""

from __future__ import annotations

from distillguard.signals.phrases import PhraseSignal

__all__ = ["GraderSignal"]


class GraderSignal(PhraseSignal):
    id = "grader"
    version = "1"
    phrase_file = "grader"
    description = "uses the model as a grader or reward model for other outputs"
