"""Package-wide contracts: public surface, lazy heavy imports, schema sanity."""

from __future__ import annotations

import subprocess
import sys

import distillguard
from distillguard import schema as S
from distillguard.records import Action

HEAVY = ("torch", "sklearn", "igraph", "sentence_transformers", "transformers", "matplotlib")


def test_public_surface_is_declared() -> None:
    assert set(distillguard.__all__) == {
        "AccountDecision",
        "Action",
        "Campaign",
        "Evidence",
        "QuarantinedRow",
        "__version__",
    }
    for name in distillguard.__all__:
        assert hasattr(distillguard, name)


def test_heavy_libraries_are_not_imported_at_module_top_level() -> None:
    code = (
        "import sys, distillguard, distillguard.cli, distillguard.pipeline, distillguard.schema;"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"imported at top level: {out}"


def test_schema_names_are_unique_and_required_fields_first() -> None:
    names = S.field_names()
    assert len(names) == len(set(names))
    assert set(S.REQUIRED) == {S.TIMESTAMP, S.ACCOUNT, S.PROMPT}
    assert S.EVENT_SCHEMA.names == list(names)


def test_action_ladder_is_ordered() -> None:
    ladder = [a.value for a in Action]
    assert ladder == ["allow", "monitor", "review", "throttle", "downgrade", "block"]
    assert Action.BLOCK.at_least(Action.REVIEW)
    assert not Action.MONITOR.at_least(Action.REVIEW)
