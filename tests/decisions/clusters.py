"""A cluster-feature row with no evidence at all, for ``decisions.score.cluster_scores``."""

from __future__ import annotations

from distillguard.networks import EDGE_KINDS


def quiet_cluster(**features: object) -> dict[str, object]:
    """Every density and group test at 0; ``features`` set what a test is about."""
    row: dict[str, object] = {f"density.{k}": 0.0 for k in EDGE_KINDS}
    row |= {"cluster": 0, "succession_share": 0.0, "creation_burst": 0.0, "pivot_share": 0.0}
    row |= {"dataset_redundancy": 0.0, "dataset_split": 0.0, "load_evenness": 0.0}
    return row | features
