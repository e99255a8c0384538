"""distillguard: detect, stop and prove industrial-scale distillation of AI models."""

from distillguard.records import AccountDecision, Action, Campaign, Evidence, QuarantinedRow

__all__ = ["AccountDecision", "Action", "Campaign", "Evidence", "QuarantinedRow", "__version__"]

__version__ = "0.1.0"
