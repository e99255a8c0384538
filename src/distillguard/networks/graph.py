"""All edge kinds for one feature frame, in one call (the graph stage's entry point)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from distillguard.networks.base import EDGE_SCHEMA, SKIPPED_SCHEMA, pair_key
from distillguard.networks.coverage import coverage_edges
from distillguard.networks.edges import infrastructure_edges, template_edges
from distillguard.networks.synchrony import succession_edges, synchrony_edges

__all__ = ["GraphParams", "build_edges"]

log = logging.getLogger(__name__)

# Edge kinds a successor may share with its predecessor (specific ones: not a TLS stack, a
# cloud ASN or a campus /24, where benign new accounts start next to people who just left).
_SUCCESSION_KINDS = ("payment", "ip", "template", "system")


@dataclass(frozen=True)
class GraphParams:
    """Graph construction knobs (see ``decisions.DetectionConfig`` for their reasons)."""

    max_group: int = 5000
    clique_cap: int = 64
    neighbours: int = 16
    creation_minutes: float = 10.0
    template_min_events: int = 3
    template_min_share: float = 0.05
    synchrony_minutes: float = 30.0
    synchrony_min_cells: int = 3
    synchrony_min_jaccard: float = 0.2
    coverage_min_items: int = 5
    coverage_max_overlap: float = 0.5
    succession_hours: float = 6.0


def build_edges(
    frame: pl.DataFrame,
    profiles: pl.DataFrame,
    params: GraphParams | None = None,
    *,
    dataset_sizes: Mapping[str, int] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(edges, skipped keys) for a feature frame that carries ``subject.idx``.

    ``profiles`` supplies first/last request times for succession.
    """
    p = params or GraphParams()
    bounds = {
        "population": profiles.height,
        "max_group": p.max_group,
        "clique_cap": p.clique_cap,
        "neighbours": p.neighbours,
    }
    infra, skipped_infra = infrastructure_edges(
        frame, creation_minutes=p.creation_minutes, **bounds
    )
    content, skipped_content = template_edges(
        frame, min_events=p.template_min_events, min_share=p.template_min_share, **bounds
    )
    sync = synchrony_edges(
        frame,
        bucket_minutes=p.synchrony_minutes,
        min_cells=p.synchrony_min_cells,
        min_jaccard=p.synchrony_min_jaccard,
        max_template_subjects=p.max_group,
        clique_cap=p.clique_cap,
        neighbours=p.neighbours,
    )
    cover = coverage_edges(
        frame,
        min_items=p.coverage_min_items,
        max_overlap=p.coverage_max_overlap,
        dataset_sizes=dataset_sizes,
        **bounds,
    )
    sharing = pl.concat([*infra, *content]).filter(pl.col("kind").is_in(_SUCCESSION_KINDS))
    succ = succession_edges(sharing, profiles, gap_hours=p.succession_hours)
    del sharing
    parts = [*infra, *content, sync, cover, succ]
    del infra, content, sync, cover, succ
    edges = _in_edge_order(parts)
    skipped = pl.concat([*skipped_infra, *skipped_content]).cast(SKIPPED_SCHEMA)
    if skipped.height:
        log.info(
            "skipped %d shared values held by more than %d subjects", skipped.height, p.max_group
        )
    return edges, skipped


def _in_edge_order(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """The edges of ``parts`` (emptied) with weight > 0, sorted by (src, dst, kind, key).

    Each kind is sorted by (src, dst, key) on its own, then the whole by one stable sort on
    the pair key: sorting the 10M-event scan's 21.7M edges on the four columns at once
    peaked at +1.3 GiB, this at +0.3 GiB (same order).
    """
    by_kind: dict[str, list[pl.DataFrame]] = {}
    while parts:
        part = parts.pop().filter(pl.col("weight") > 0)
        kinds = part.get_column("kind").unique().to_list()
        for kind in kinds:
            rows = part if len(kinds) == 1 else part.filter(pl.col("kind") == kind)
            by_kind.setdefault(kind, []).append(rows)
        del part
    if not by_kind:
        return pl.DataFrame(schema=EDGE_SCHEMA)
    ordered = pl.concat(
        [
            pl.concat(by_kind.pop(kind)).sort("src", "dst", "key").cast(EDGE_SCHEMA)
            for kind in sorted(by_kind)
        ]
    )
    return ordered[ordered.select(pl.arg_sort_by(pair_key(), maintain_order=True)).to_series()]
