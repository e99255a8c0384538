"""networks: typed, rarity-weighted edges between subjects; Leiden (CPM) clusters."""

from distillguard.networks.base import EDGE_KINDS, EDGE_SCHEMA, INFRA_KINDS
from distillguard.networks.cluster import (
    CLUSTER,
    cluster_features,
    leiden_clusters,
    member_attachment,
    pair_weights,
)
from distillguard.networks.coverage import coverage_edges
from distillguard.networks.edges import BASE_WEIGHTS, idf, shared_key_edges
from distillguard.networks.graph import GraphParams, build_edges
from distillguard.networks.load import load_evenness
from distillguard.networks.split import (
    dataset_participation,
    dataset_split,
    extend_split_clusters,
)
from distillguard.networks.synchrony import succession_edges, synchrony_edges

__all__ = [
    "BASE_WEIGHTS",
    "CLUSTER",
    "EDGE_KINDS",
    "EDGE_SCHEMA",
    "INFRA_KINDS",
    "GraphParams",
    "build_edges",
    "cluster_features",
    "coverage_edges",
    "dataset_participation",
    "dataset_split",
    "extend_split_clusters",
    "idf",
    "leiden_clusters",
    "load_evenness",
    "member_attachment",
    "pair_weights",
    "shared_key_edges",
    "succession_edges",
    "synchrony_edges",
]
