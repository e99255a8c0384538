"""Property tests: no input crashes a reader, and the accounting always balances."""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distillguard import schema as S
from distillguard.ingest import Limits, ingest
from ingest.samples import MemoryStore, assert_balanced, event, jsonl

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIMITS = Limits(max_row_bytes=4096, max_prompt_bytes=1024, max_depth=16, chunk_bytes=2048)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
field_values = st.fixed_dictionaries(
    {},
    optional={
        name: json_values
        for name in (
            S.TIMESTAMP,
            S.ACCOUNT,
            S.PROMPT,
            S.INPUT_TOKENS,
            S.FINISH_REASONS,
            S.INPUT_MESSAGES,
            S.TOP_P,
            S.REQUEST_ID,
        )
    },
)


def _ingest(name: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        store = MemoryStore()
        summary = ingest(
            [path], store=store, limits=LIMITS, quarantine_path=Path(folder) / "q.jsonl"
        )
        assert store.count() == summary.rows_stored
        assert_balanced(summary)
        written = (Path(folder) / "q.jsonl").read_bytes().splitlines()
        assert len(written) == summary.rows_quarantined
        for line in written:
            orjson.loads(line)


@SETTINGS
@given(st.binary(max_size=3000))
def test_random_bytes_as_jsonl(data: bytes) -> None:
    _ingest("r.jsonl", data)


@SETTINGS
@given(st.binary(max_size=1500))
def test_random_bytes_as_csv_and_parquet(data: bytes) -> None:
    _ingest("r.csv", data)
    _ingest("r.parquet", data)


@SETTINGS
@given(st.lists(json_values | field_values, max_size=30))
def test_random_json_values(values: list[object]) -> None:
    # stdlib json: it writes integers beyond 64 bits, which orjson refuses to.
    _ingest("v.jsonl", "\n".join(json.dumps(v) for v in values).encode())


@SETTINGS
@given(st.lists(field_values, max_size=30))
def test_random_json_values_as_csv(values: list[dict[str, object]]) -> None:
    header = [S.TIMESTAMP, S.ACCOUNT, S.PROMPT, S.INPUT_TOKENS]
    lines = [",".join(header)]
    for row in values:
        cells = [json.dumps(row.get(k)).replace("\n", " ") for k in header]
        lines.append(",".join(cells))
    _ingest("v.csv", "\n".join(lines).encode())


VALID = jsonl([event(i) for i in range(60)])
VALID_GZ = gzip.compress(VALID)


@SETTINGS
@given(st.integers(0, len(VALID)), st.integers(0, len(VALID_GZ)), st.binary(max_size=40))
def test_random_truncations_and_corruptions(cut: int, gz_cut: int, junk: bytes) -> None:
    _ingest("t.jsonl", VALID[:cut] + junk)
    _ingest("t.jsonl.gz", VALID_GZ[:gz_cut])
    _ingest("c.jsonl.gz", VALID_GZ[:gz_cut] + junk + VALID_GZ[gz_cut:])
