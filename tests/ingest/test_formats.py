"""Every supported format and container yields the same canonical events."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from distillguard import schema as S
from distillguard.ingest import Limits, read_events
from ingest.samples import event, jsonl, table_of

ROWS = [event(i) for i in range(20)]


def _prompts(sources: list[str | Path]) -> list[str]:
    return table_of(read_events(sources))[S.PROMPT].to_pylist()


def _expected() -> list[str]:
    return [row[S.PROMPT] for row in ROWS]


@pytest.mark.parametrize(
    ("name", "encode"),
    [
        ("e.jsonl", lambda b: b),
        ("e.jsonl.gz", gzip.compress),
        ("e.jsonl.zst", lambda b: zstandard.ZstdCompressor().compress(b)),
        ("e.ndjson", lambda b: b),
        ("no_suffix", lambda b: b),
        ("e.jsonl.gz", lambda b: gzip.compress(b[:700]) + gzip.compress(b[700:])),
    ],
)
def test_jsonl_plain_and_compressed(tmp_path: Path, name: str, encode: object) -> None:
    path = tmp_path / name
    path.write_bytes(encode(jsonl(ROWS)))  # type: ignore[operator]
    assert _prompts([path]) == _expected()


def test_bom_crlf_and_blank_lines_keep_line_numbers(tmp_path: Path) -> None:
    text = jsonl(ROWS[:3]).replace(b"\n", b"\r\n")
    path = tmp_path / "e.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + text + b"\r\n   \n" + b"{bad\r\n")
    quarantine = tmp_path / "q.jsonl"
    assert _prompts_with_quarantine(path, quarantine) == _expected()[:3]
    rows = [orjson.loads(line) for line in quarantine.read_bytes().splitlines()]
    assert [(r["line"], r["reason"]) for r in rows] == [(6, "malformed_json")]


def _prompts_with_quarantine(path: Path, quarantine: Path) -> list[str]:
    return table_of(read_events([path], quarantine=quarantine))[S.PROMPT].to_pylist()


def test_parquet_canonical_and_with_other_types(tmp_path: Path) -> None:
    table = pa.Table.from_pylist([{k: v for k, v in row.items()} for row in ROWS])
    pq.write_table(table, tmp_path / "strings.parquet")  # timestamp stored as text
    exact = table_of(read_events([tmp_path / "strings.parquet"]))
    pq.write_table(exact, tmp_path / "typed.parquet")
    for name in ("strings.parquet", "typed.parquet"):
        got = table_of(read_events([tmp_path / name]))
        assert got[S.PROMPT].to_pylist() == _expected()
        assert got[S.TIMESTAMP].equals(exact[S.TIMESTAMP])


def test_corrupt_parquet_is_one_quarantined_row(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1" + b"\x00" * 100)
    quarantine = tmp_path / "q.jsonl"
    assert _prompts_with_quarantine(path, quarantine) == []
    assert b"unreadable_source" in quarantine.read_bytes()


def test_csv_with_strings_for_numbers_and_a_ragged_row(tmp_path: Path) -> None:
    header = f"{S.TIMESTAMP},{S.ACCOUNT},{S.PROMPT},{S.INPUT_TOKENS},{S.LOGPROBS}\n"
    body = (
        '2026-03-01T12:00:00Z,a1,"Hello, world",12,true\n'
        "1772366400,a2,second,,false\n"
        "2026-03-01T12:00:02Z,a3\n"
        '2026-03-01T12:00:03Z,a4,"multi\nline prompt",3,no\n'
    )
    path = tmp_path / "e.csv"
    path.write_text(header + body)
    quarantine = tmp_path / "q.jsonl"
    got = table_of(read_events([path], quarantine=quarantine))
    assert got[S.PROMPT].to_pylist() == ["Hello, world", "second", "multi\nline prompt"]
    assert got[S.INPUT_TOKENS].to_pylist() == [12, None, 3]
    assert got[S.LOGPROBS].to_pylist() == [True, False, False]
    bad = orjson.loads(quarantine.read_bytes().splitlines()[0])
    assert (bad["line"], bad["reason"]) == (4, "malformed_row")


def test_csv_row_over_the_size_limit_is_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text(
        f"{S.TIMESTAMP},{S.ACCOUNT},{S.PROMPT}\n2026-03-01T12:00:00Z,a,{'x' * 5000}\n"
        "2026-03-01T12:00:00Z,b,short\n"
    )
    quarantine = tmp_path / "q.jsonl"
    got = table_of(read_events([path], quarantine=quarantine, limits=Limits(max_row_bytes=4096)))
    assert got[S.PROMPT].to_pylist() == ["short"]
    assert orjson.loads(quarantine.read_bytes())["reason"] == "row_too_large"


def _otlp_span(i: int, with_gen_ai: bool = True) -> dict[str, object]:
    attributes = [{"key": "http.route", "value": {"stringValue": "/v1/chat"}}]
    if with_gen_ai:
        attributes += [
            {"key": "gen_ai.request.model", "value": {"stringValue": "frontier-2"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": str(10 + i)}},
            {"key": "gen_ai.response.id", "value": {"stringValue": f"resp_{i}"}},
            {"key": "distillguard.account.id", "value": {"stringValue": f"acct_{i}"}},
            {
                "key": "gen_ai.input.messages",
                "value": {
                    "stringValue": orjson.dumps(
                        [{"role": "user", "parts": [{"type": "text", "content": f"q{i}"}]}]
                    ).decode()
                },
            },
        ]
    return {
        "traceId": f"{i:032x}",
        "spanId": f"{i:016x}",
        "name": "chat frontier-2",
        "startTimeUnixNano": str(1772366400_000_000_000 + i * 1_000_000_000),
        "attributes": attributes,
    }


def _otlp_export(spans: list[dict[str, object]]) -> dict[str, object]:
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "gw"}}]
                },
                "scopeSpans": [{"scope": {"name": "x"}, "spans": spans}],
            }
        ]
    }


def test_otlp_json_lines_and_pretty_document(tmp_path: Path) -> None:
    lines = tmp_path / "traces.jsonl"
    lines.write_bytes(
        jsonl(
            [
                _otlp_export([_otlp_span(0), _otlp_span(1, with_gen_ai=False)]),
                _otlp_export([_otlp_span(2)]),
            ]
        )
    )
    pretty = tmp_path / "trace.json"
    pretty.write_bytes(orjson.dumps(_otlp_export([_otlp_span(3)]), option=orjson.OPT_INDENT_2))
    got = table_of(read_events([lines, pretty]))
    assert got[S.PROMPT].to_pylist() == ["q0", "q2", "q3"]
    assert got[S.EVENT_KEY].to_pylist() == ["resp_0", "resp_2", "resp_3"]
    assert got[S.INPUT_TOKENS].to_pylist() == [10, 12, 13]
    assert got[S.TIMESTAMP][0].as_py().isoformat() == "2026-03-01T12:00:00+00:00"


def test_directories_globs_and_missing_inputs(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.jsonl").write_bytes(jsonl(ROWS[:5]))
    (tmp_path / "d" / "sub" / "b.jsonl.gz").write_bytes(gzip.compress(jsonl(ROWS[5:])))
    (tmp_path / "d" / "notes.md").write_text("ignored")
    assert sorted(_prompts([tmp_path / "d"])) == sorted(_expected())
    assert _prompts([str(tmp_path / "d" / "*.jsonl")]) == _expected()[:5]
    with pytest.raises(FileNotFoundError):
        _prompts([tmp_path / "nope.jsonl"])
    with pytest.raises(FileNotFoundError):
        _prompts([str(tmp_path / "*.nothing")])


def test_empty_file_yields_nothing(tmp_path: Path) -> None:
    for name, data in (("e.jsonl", b""), ("e.jsonl.gz", gzip.compress(b"")), ("e.csv", b"")):
        (tmp_path / name).write_bytes(data)
        assert _prompts([tmp_path / name]) == []


def test_stdin_dash_reads_standard_input() -> None:
    code = (
        "import sys; from distillguard.ingest import read_events;"
        "print(sum(b.num_rows for b in read_events(['-'])))"
    )
    for payload in (jsonl(ROWS), gzip.compress(jsonl(ROWS))):
        out = subprocess.run(
            [sys.executable, "-c", code], input=payload, capture_output=True, check=True
        )
        assert out.stdout.strip() == b"20"


def test_parquet_from_stdin_like_compressed_stream(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    pq.write_table(table_of(read_events([_write(tmp_path, ROWS)])), buffer)
    path = tmp_path / "e.parquet.gz"
    path.write_bytes(gzip.compress(buffer.getvalue()))
    assert _prompts([path]) == _expected()


def _write(tmp_path: Path, rows: list[dict[str, object]]) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(jsonl(rows))
    return path


def test_a_json_array_document_is_read_by_element(tmp_path: Path) -> None:
    rows: list[object] = [event(i) for i in range(4)]
    rows.insert(2, "not a record")
    path = tmp_path / "export.json"
    path.write_bytes(orjson.dumps(rows, option=orjson.OPT_INDENT_2))
    quarantine = tmp_path / "q.jsonl"
    got = table_of(read_events([path], quarantine=quarantine))
    assert got[S.REQUEST_ID].to_pylist() == ["req_0", "req_1", "req_2", "req_3"]
    bad = orjson.loads(quarantine.read_bytes())
    assert (bad["line"], bad["reason"]) == (3, "not_an_object")
    # A file that only starts like an array is read as JSON lines.
    lines = tmp_path / "lines.jsonl"
    lines.write_bytes(jsonl(["[1, 2]", event(9)]))
    assert _prompts([lines]) == [event(9)[S.PROMPT]]
