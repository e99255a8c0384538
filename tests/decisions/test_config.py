"""DetectionConfig: validated on load, unknown keys are errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from distillguard.decisions import ConfigError, DetectionConfig


def test_yaml_round_trip_with_nested_graph_and_releases(tmp_path: Path) -> None:
    path = tmp_path / "detect.yaml"
    path.write_text(
        "resolution: 0.1\ngraph:\n  max_group: 2000\n  synchrony_minutes: 15\n"
        "releases:\n  frontier-3: '2026-03-02T05:00:00Z'\n"
    )
    cfg = DetectionConfig.load(path)
    assert cfg.resolution == 0.1 and cfg.graph.max_group == 2000
    assert cfg.graph.synchrony_minutes == 15
    assert cfg.releases == {"frontier-3": datetime(2026, 3, 2, 5, tzinfo=UTC)}
    assert DetectionConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    "text",
    [
        "resolutoin: 0.1\n",
        "graph:\n  max_groups: 5\n",
        "graph:\n  clique_cap: 10\n  neighbours: 16\n",
        "resolution: 0\n",
        "releases:\n  m: not-a-time\n",
        "graph: [1, 2]\n",
        "- just a list\n",
    ],
)
def test_bad_configs_are_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "detect.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        DetectionConfig.load(path)
