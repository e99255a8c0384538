from __future__ import annotations

import runpy
from pathlib import Path

from distillguard import schema as S

ROOT = Path(__file__).resolve().parents[2]


def test_schema_doc_is_generated_from_fields_and_current() -> None:
    render = runpy.run_path(str(ROOT / "scripts" / "gen_schema_doc.py"))["render"]
    text = render()
    assert (ROOT / "docs" / "schema.md").read_text() == text
    for field in S.FIELDS:
        assert f"| `{field.name}` | {field.kind} |" in text
