"""Fixtures for ingest tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from distillguard.engines.duckdb_store import DuckDBStore


@pytest.fixture
def store() -> Iterator[DuckDBStore]:
    with DuckDBStore(":memory:") as st:
        yield st


@pytest.fixture
def hash_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DISTILLGUARD_HASH_KEY", "test-secret-key")
    return "test-secret-key"
