"""decisions: calibrated risk, plain-words evidence, graduated actions, decision log."""

from distillguard.decisions.base import Detection, SubjectDecision
from distillguard.decisions.calibrate import Calibration, fit_thresholds
from distillguard.decisions.config import ConfigError, DetectionConfig
from distillguard.decisions.detect import ScoredFrame, calibrate, detect, score_subjects
from distillguard.decisions.log import DecisionLogSink, file_appeal, load_appeals, read_decisions
from distillguard.decisions.policy import Appeal, Override, Policy, apply_policy

__all__ = [
    "Appeal",
    "Calibration",
    "ConfigError",
    "DecisionLogSink",
    "Detection",
    "DetectionConfig",
    "Override",
    "Policy",
    "ScoredFrame",
    "SubjectDecision",
    "apply_policy",
    "calibrate",
    "detect",
    "file_appeal",
    "fit_thresholds",
    "load_appeals",
    "read_decisions",
    "score_subjects",
]
