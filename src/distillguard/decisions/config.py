"""Detection parameters: one frozen record, validated on load (unknown key = error).

None of these is a risk threshold: those come from
:mod:`distillguard.decisions.calibrate`. Graph knobs live in
:class:`distillguard.networks.GraphParams` (nested under ``graph:`` in YAML).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from distillguard.networks.graph import GraphParams

__all__ = ["ConfigError", "DetectionConfig"]


class ConfigError(ValueError):
    """A detection, calibration or policy file is malformed; the message names the key."""


@dataclass(frozen=True)
class DetectionConfig:
    graph: GraphParams = field(default_factory=GraphParams)
    # Leiden CPM resolution: a group is a cluster when its mean pair weight exceeds it. An
    # IP shared by two of a NAT's 50 accounts (weight ~0.3) links them; a lone weak tie
    # between two strangers (below 0.05) does not.
    resolution: float = 0.05
    seed: int = 0
    # Model releases (model -> time); empty: inferred from a model's first appearance.
    releases: Mapping[str, datetime] = field(default_factory=dict)
    # Item counts of public datasets for coverage; empty: taken from the signals index.
    dataset_sizes: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        g = self.graph
        for name in ("max_group", "clique_cap", "neighbours", "template_min_events"):
            if getattr(g, name) < 1:
                raise ConfigError(f"detection config: graph.{name} must be >= 1")
        if g.clique_cap <= 2 * g.neighbours:
            raise ConfigError("detection config: graph.clique_cap must exceed 2 * neighbours")
        for name in ("template_min_share", "synchrony_min_jaccard", "coverage_max_overlap"):
            if not 0.0 <= getattr(g, name) <= 1.0:
                raise ConfigError(f"detection config: graph.{name} must be in [0, 1]")
        if self.resolution <= 0.0:
            raise ConfigError("detection config: resolution must be > 0")

    @classmethod
    def from_dict(
        cls, raw: Mapping[str, Any], *, source: str = "detection config"
    ) -> DetectionConfig:
        values = dict(_known(raw, cls, source))
        if "graph" in values:
            graph = values["graph"]
            if not isinstance(graph, Mapping):
                raise ConfigError(f"{source}: graph must be a mapping")
            values["graph"] = _build(
                GraphParams, _known(graph, GraphParams, f"{source}: graph"), source
            )
        if "releases" in values:
            releases = values["releases"]
            if not isinstance(releases, Mapping):
                raise ConfigError(f"{source}: releases must map model -> ISO time")
            values["releases"] = {
                str(k): _as_time(v, f"{source}: releases.{k}") for k, v in releases.items()
            }
        return _build(cls, values, source)

    @classmethod
    def load(cls, path: Path) -> DetectionConfig:
        import yaml

        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping")
        return cls.from_dict(raw, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        return {
            "graph": asdict(self.graph),
            "resolution": self.resolution,
            "seed": self.seed,
            "releases": {k: v.isoformat() for k, v in self.releases.items()},
            "dataset_sizes": dict(self.dataset_sizes),
        }

    def with_sizes(self, sizes: Mapping[str, int]) -> DetectionConfig:
        return replace(self, dataset_sizes=dict(sizes))


def _known(raw: Mapping[str, Any], cls: type, source: str) -> Mapping[str, Any]:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {unknown}; allowed: {sorted(known)}")
    return raw


def _build(cls: Any, values: Mapping[str, Any], source: str) -> Any:
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _as_time(value: Any, where: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{where}: not an ISO time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
