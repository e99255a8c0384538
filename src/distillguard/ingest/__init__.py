"""Ingest: read logs in any supported format into canonical event batches.

Public API (see docs/ingest.md)::

    ingest(sources, *, store, mapping=None, strict=False, quarantine_path=None,
           on_progress=None, limits=None) -> IngestSummary
    read_events(sources, mapping=None, strict=False, quarantine=None, *, limits=None)
        -> Iterator[pa.RecordBatch]
    load_mapping(path) -> Mapping
"""

from distillguard.ingest.base import REASONS, IngestError, IngestSummary, Limits
from distillguard.ingest.mapping import FieldRule, Mapping, load_mapping
from distillguard.ingest.pipeline import ingest, read_events
from distillguard.ingest.quarantine import QuarantineSink

__all__ = [
    "REASONS",
    "FieldRule",
    "IngestError",
    "IngestSummary",
    "Limits",
    "Mapping",
    "QuarantineSink",
    "ingest",
    "load_mapping",
    "read_events",
]
