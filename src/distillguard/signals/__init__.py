"""Per-request signals: evidence columns for the account and network models.

Public API: :class:`SignalRunner` (the signal output contract, see ``runner.py``),
:func:`dataset_sizes`, the :class:`Signal` base class and :class:`PreparedBatch` for
third-party signals, and :func:`load_config`.
"""

from distillguard.signals.base import Signal, SignalConfigError, SignalScores
from distillguard.signals.dataset import dataset_sizes
from distillguard.signals.registry import ENTRY_POINT_GROUP, load_config, registered
from distillguard.signals.runner import SignalRunner, score_columns
from distillguard.signals.text import PreparedBatch

__all__ = [
    "ENTRY_POINT_GROUP",
    "PreparedBatch",
    "Signal",
    "SignalConfigError",
    "SignalRunner",
    "SignalScores",
    "dataset_sizes",
    "load_config",
    "registered",
    "score_columns",
]
