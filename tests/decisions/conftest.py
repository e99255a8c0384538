"""Shared by the end-to-end ring tests: build a labelled world, calibrate, detect, judge."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl
import pytest

from distillguard import schema as S
from distillguard.decisions import Detection, DetectionConfig, calibrate, detect

# world(seed, ring=...) -> (event rows, (account, population) labels)
World = Callable[..., tuple[list[dict[str, object]], list[tuple[str, str]]]]


def _frames(world: World, seed: int, ring: bool) -> tuple[pl.DataFrame, pl.DataFrame]:
    rows, labels = world(seed, ring=ring)
    frame = pl.DataFrame(rows, infer_schema_length=None)
    lab = pl.DataFrame(
        labels, schema={S.ACCOUNT: pl.Utf8, "population": pl.Utf8}, orient="row"
    ).with_columns(pl.lit(None, dtype=pl.Utf8).alias(S.ENDUSER))
    return frame, lab


@dataclass(frozen=True)
class Verdict:
    detection: Detection
    ring: pl.DataFrame  # the attackers' subject rows (action, campaign_id, ...)
    others: pl.DataFrame  # everyone else's


@pytest.fixture
def judge() -> Callable[..., Verdict]:
    """Calibrate on ``world(1, ring=False)``, detect on ``world(seed, ring=True)``."""

    def run(world: World, config: DetectionConfig, seed: int = 2) -> Verdict:
        cal_frame, cal_labels = _frames(world, 1, False)
        frame, labels = _frames(world, seed, True)
        det = detect(frame, calibration=calibrate(cal_frame, cal_labels, config), config=config)
        judged = labels.join(det.subjects, on=[S.ACCOUNT, S.ENDUSER], nulls_equal=True)
        attack = pl.col("population") == "attack"
        return Verdict(det, judged.filter(attack), judged.filter(~attack))

    return run
