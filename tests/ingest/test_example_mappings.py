"""The shipped example mappings ingest realistic samples of their log formats."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from distillguard import schema as S
from distillguard.engines.duckdb_store import DuckDBStore
from distillguard.ingest import ingest, load_mapping, read_events
from distillguard.ingest.mapping import SensitiveHasher
from ingest.samples import assert_balanced, table_of

MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is 12*7?"},
    {"role": "assistant", "content": "84"},
    {"role": "user", "content": [{"type": "text", "text": "Now explain step by step."}]},
]
RESPONSE = {
    "id": "chatcmpl-abc123",
    "created": 1772366400,
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "12*7 = 84 because"},
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 41,
        "completion_tokens": 12,
        "completion_tokens_details": {"reasoning_tokens": 0},
    },
}


def _litellm_row(i: int) -> dict[str, object]:
    return {
        "request_id": f"chatcmpl-{i}",
        "call_type": "acompletion",
        "api_key": "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b",
        "spend": 0.00123,
        "total_tokens": 53,
        "prompt_tokens": 41,
        "completion_tokens": 12,
        "startTime": "2026-03-01T12:00:00.123000",
        "endTime": "2026-03-01T12:00:01.456000",
        "completionStartTime": "2026-03-01T12:00:00.400000",
        "model": "gpt-4o",
        "model_id": "abc",
        "model_group": "frontier-2",
        "api_base": "https://api.example.com/v1",
        "user": "palantir",
        "metadata": {
            "user_api_key_user_id": f"user-{i % 2}",
            "user_api_key_team_id": "team-7",
            "tags": ["jobID:214590dsff09fds"],
        },
        "cache_hit": "False",
        "cache_key": "",
        "request_tags": ["prod"],
        "team_id": "team-7",
        "end_user": "customer-9",
        "requester_ip_address": "203.0.113.7",
        "messages": MESSAGES,
        "response": RESPONSE,
        "session_id": "sess-1",
        "status": "success",
    }


def _openai_row(i: int) -> dict[str, object]:
    return {
        "request_id": f"req_{i}",
        "created_at": 1772366400123,  # epoch ms
        "account_id": "acct_42",
        "organization": "org_7",
        "api_key_id": "key_3",
        "billing": {"payment_method": "pm_visa_4242"},
        "account_created_at": "2026-02-27T09:14:00Z",
        "tier": "tier-1",
        "client_ip": "198.51.100.4",
        "user_agent": "OpenAI/Python 1.40.0",
        "request": {
            "model": "frontier-2",
            "messages": MESSAGES,
            "max_completion_tokens": "4096",
            "temperature": "0.7",
            "n": 1,
            "logprobs": "true",
            "top_logprobs": 5,
            "reasoning_effort": "high",
            "user": "end-user-1",
        },
        "response": RESPONSE,
    }


def _nginx_row(i: int) -> dict[str, object]:
    body = {
        "model": "frontier-2",
        "messages": MESSAGES[:2],
        "max_tokens": 256,
        "temperature": 0.2,
        "user": "u-77",
    }
    return {
        "time": "2026-03-01T12:00:00+00:00",
        "msec": f"{1772366400 + i}.250",
        "request_id": f"5f2b{i:04d}",
        "remote_addr": "192.0.2.10",
        "http_user_agent": "curl/8.5.0",
        "http_x_account_id": "acct-raw-1",
        "http_x_api_key_id": "",
        "ssl_ja3": "t13d1516h2_8daaf6152771",
        "status": "200",
        "request_body": orjson.dumps(body).decode(),  # nginx logs the body as JSON text
    }


def _write(tmp_path: Path, rows: list[dict[str, object]]) -> Path:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    return path


def test_litellm_spend_logs(tmp_path: Path, hash_key: str) -> None:
    path = _write(tmp_path, [_litellm_row(i) for i in range(3)])
    got = table_of(read_events([path], mapping=load_mapping("litellm"))).to_pylist()
    first = got[0]
    hasher = SensitiveHasher(hash_key.encode())
    assert first[S.ACCOUNT] == hasher("user-0") != got[1][S.ACCOUNT]
    assert first[S.ORG] == hasher("team-7")
    assert first[S.ENDUSER] == hasher("customer-9")
    assert first[S.EVENT_KEY] == "chatcmpl-0"
    assert first[S.MODEL] == "frontier-2"
    assert (first[S.INPUT_TOKENS], first[S.OUTPUT_TOKENS]) == (41, 12)
    assert first[S.PROMPT] == "Now explain step by step."
    assert first[S.TURNS] == 2
    assert first[S.SYSTEM] == "You are a helpful assistant."
    assert first[S.FINISH_REASONS] == ["stop"]
    assert first[S.CLIENT_ADDRESS] == "203.0.113.7"
    assert first[S.TIMESTAMP].isoformat() == "2026-03-01T12:00:00.123000+00:00"
    assert orjson.loads(first[S.INPUT_MESSAGES]) == MESSAGES


def test_openai_style_request_response_log(tmp_path: Path, hash_key: str) -> None:
    path = _write(tmp_path, [_openai_row(i) for i in range(2)])
    first = table_of(read_events([path], mapping=load_mapping("openai"))).to_pylist()[0]
    assert first[S.TIMESTAMP].isoformat() == "2026-03-01T12:00:00.123000+00:00"
    assert first[S.MAX_TOKENS] == 4096
    assert first[S.TEMPERATURE] == 0.7
    assert first[S.LOGPROBS] is True
    assert first[S.TOP_LOGPROBS] == 5
    assert first[S.REASONING_LEVEL] == "high"
    assert first[S.REASONING_TOKENS] == 0
    assert first[S.PAYMENT].startswith("h_") and "4242" not in first[S.PAYMENT]
    assert first[S.ACCOUNT_TIER] == "tier-1"
    assert first[S.PROMPT] == "Now explain step by step."
    assert orjson.loads(first[S.OUTPUT_MESSAGES])[0]["finish_reason"] == "stop"


def test_nginx_json_access_log_reads_into_the_logged_body(tmp_path: Path, hash_key: str) -> None:
    path = _write(tmp_path, [_nginx_row(i) for i in range(4)])
    with DuckDBStore(":memory:") as store:
        summary = ingest([path], store=store, mapping=load_mapping("nginx"))
        frame = next(store.scan())
    assert_balanced(summary)
    assert summary.rows_stored == 4
    assert frame[S.PROMPT].to_list() == ["What is 12*7?"] * 4
    assert frame[S.MODEL].to_list() == ["frontier-2"] * 4
    assert frame[S.TEMPERATURE].to_list() == [0.2] * 4
    # An empty id is absent, not one shared hashed id.
    assert frame[S.API_KEY].null_count() == 4
    assert frame[S.TIMESTAMP][1].isoformat() == "2026-03-01T12:00:01.250000+00:00"


def test_sensitive_mapping_without_key_refuses_to_ingest_raw_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISTILLGUARD_HASH_KEY", raising=False)
    path = _write(tmp_path, [_nginx_row(0)])
    with pytest.raises(ValueError, match="DISTILLGUARD_HASH_KEY"):
        list(read_events([path], mapping=load_mapping("nginx")))
