"""DistillBench traffic simulator: labelled, realistic, hard.

``simulate(scenario, seed=..., out=...)`` writes canonical events plus ground
truth; ``load_scenario(name_or_path)`` validates a scenario TOML. See
``docs/distillbench.md`` for populations, strategies and field distributions.
"""

from distillguard.bench.simulate.engine import OutputPaths, SimulationSummary, simulate
from distillguard.bench.simulate.library import PoolItem, PromptLibrary
from distillguard.bench.simulate.scenario import (
    CampaignSpec,
    PopulationSpec,
    ReleaseSpec,
    Scenario,
    ScenarioError,
    load_scenario,
    scenario_names,
)

__all__ = [
    "CampaignSpec",
    "OutputPaths",
    "PoolItem",
    "PopulationSpec",
    "PromptLibrary",
    "ReleaseSpec",
    "Scenario",
    "ScenarioError",
    "SimulationSummary",
    "load_scenario",
    "scenario_names",
    "simulate",
]
