"""Synthetic training-data generation requests (self-instruct, Evol-Instruct, QA-pair builders)."""

from __future__ import annotations

from distillguard.signals.phrases import PhraseSignal

__all__ = ["SyntheticSignal"]


class SyntheticSignal(PhraseSignal):
    id = "synthetic"
    version = "1"
    phrase_file = "synthetic"
    description = "asks the model to generate training data, tasks or prompt variants at scale"
