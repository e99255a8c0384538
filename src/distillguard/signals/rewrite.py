"""Policy-sensitive rewrites: censorship-safe or regime-compliant rewriting of text."""

from __future__ import annotations

from distillguard.signals.phrases import PhraseSignal

__all__ = ["RewriteSignal"]


class RewriteSignal(PhraseSignal):
    id = "rewrite"
    version = "1"
    phrase_file = "rewrite"
    description = "asks for a rewrite that passes a censor or a political content regime"
