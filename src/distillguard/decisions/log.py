"""The append-only decision log and the appeal file (both JSONL).

Each decision line: ``subject`` (account_id, enduser_id), ``action``, ``risk``,
``rule``, ``evidence`` (plain-words texts with their kinds and numbers),
``campaign_id``, ``decided_at`` (event time of the data's end, never the wall
clock, so a replay writes the same line) and ``policy_version``. Files are
only ever opened for appending; nothing here rewrites or truncates them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from distillguard.decisions.base import SubjectDecision
from distillguard.decisions.config import ConfigError
from distillguard.decisions.policy import Appeal

__all__ = ["DecisionLogSink", "file_appeal", "load_appeals", "read_decisions"]


class DecisionLogSink:
    """Appends decisions to a JSONL file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(
        self,
        decisions: Iterable[SubjectDecision],
        *,
        decided_at: datetime | None,
        policy_version: str,
    ) -> int:
        """Append one line per decision; returns how many were written."""
        lines = [
            json.dumps(_line(d, decided_at, policy_version), sort_keys=True, ensure_ascii=False)
            for d in decisions
        ]
        if not lines:
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        return len(lines)


def _line(d: SubjectDecision, decided_at: datetime | None, version: str) -> dict[str, Any]:
    dec = d.decision
    return {
        "subject": {"account_id": dec.account_id, "enduser_id": d.enduser_id},
        "action": dec.action.value,
        "risk": round(dec.risk, 6),
        "rule": dec.rule,
        "campaign_id": dec.campaign_id,
        "evidence": [
            {"kind": e.kind, "text": e.text, "value": e.value, "weight": round(e.weight, 4)}
            for e in dec.evidence
        ],
        "decided_at": decided_at.isoformat() if decided_at else None,
        "policy_version": version,
    }


def read_decisions(path: Path) -> list[dict[str, Any]]:
    """Every logged decision, oldest first (for audits and tests)."""
    if not path.is_file():
        return []
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{n}: not JSON: {exc}") from None
    return out


def file_appeal(path: Path, appeal: Appeal) -> None:
    """Append an appeal (or its resolution: the same subject with ``resolved: true``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(appeal.to_dict(), sort_keys=True, ensure_ascii=False) + "\n")


def load_appeals(path: Path) -> tuple[Appeal, ...]:
    """The current state of each subject's appeal: the last line per subject wins."""
    latest: dict[tuple[str, str | None], Appeal] = {}
    for n, raw in enumerate(read_decisions(path), start=1):
        appeal = Appeal.from_dict(raw, f"{path}:{n}")
        latest[(appeal.account_id, appeal.enduser_id)] = appeal
    return tuple(latest.values())
