"""accounts: per-subject behaviour profiles in event time (pure functions of frames)."""

from distillguard.accounts.base import (
    SUBJECT,
    SUBJECT_KEYS,
    by_subject_index,
    ensure_columns,
    subject_index,
)
from distillguard.accounts.pivot import infer_releases, pivot_features
from distillguard.accounts.profile import PROFILE_COLUMNS, subject_profiles, with_subject

__all__ = [
    "PROFILE_COLUMNS",
    "SUBJECT",
    "SUBJECT_KEYS",
    "by_subject_index",
    "ensure_columns",
    "infer_releases",
    "pivot_features",
    "subject_index",
    "subject_profiles",
    "with_subject",
]
