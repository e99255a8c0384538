from __future__ import annotations

import inspect
import subprocess
import sys

import distillguard.ingest as ingest_api
from distillguard.engines.base import Store


def test_public_surface_is_declared() -> None:
    assert set(ingest_api.__all__) == {
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
    }
    for name in ingest_api.__all__:
        assert hasattr(ingest_api, name)


def test_entry_point_signature_matches_the_cli_contract() -> None:
    params = inspect.signature(ingest_api.ingest).parameters
    assert list(params)[:7] == [
        "sources",
        "store",
        "mapping",
        "strict",
        "quarantine_path",
        "on_progress",
        "limits",
    ]
    assert all(params[p].kind is inspect.Parameter.KEYWORD_ONLY for p in list(params)[1:])
    fields = ingest_api.IngestSummary.__dataclass_fields__
    assert list(fields) == [
        "rows_read",
        "rows_stored",
        "rows_duplicate",
        "rows_quarantined",
        "quarantined_by_reason",
        "sources",
    ]
    assert issubclass(ingest_api.IngestError, ValueError)
    assert {"append", "count", "scan", "export_parquet", "close"} <= set(dir(Store))


def test_reason_codes_are_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "ingest.md").read_text()
    for reason in ingest_api.REASONS:
        assert f"`{reason}`" in doc


def test_ingest_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys, distillguard.ingest, distillguard.engines.duckdb_store;"
        "print(','.join(m for m in ('torch','sklearn','igraph','matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
