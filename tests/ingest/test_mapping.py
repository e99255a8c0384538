from __future__ import annotations

from pathlib import Path

import pytest

from distillguard import schema as S
from distillguard.ingest import IngestError, load_mapping
from distillguard.ingest.mapping import SensitiveHasher, example_mappings, resolve

GOOD_TOML = """
format = "jsonl"

[fields]
timestamp = { path = "startTime", unit = "ms" }
"distillguard.account.id" = { path = "user", sensitive = true }
"gen_ai.usage.input_tokens" = "usage.prompt_tokens"
"gen_ai.input.messages" = ["request.body.messages", "messages"]

[constants]
"distillguard.router.id" = "litellm"
"""


def test_toml_mapping_loads_with_paths_alternatives_and_constants(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(GOOD_TOML)
    mapping = load_mapping(path)
    rules = {rule.target: rule for rule in mapping.rules}
    assert rules[S.TIMESTAMP].unit == "ms"
    assert rules[S.ACCOUNT].sensitive
    assert rules[S.INPUT_TOKENS].paths == (("usage", "prompt_tokens"),)
    assert rules[S.INPUT_MESSAGES].paths == (("request", "body", "messages"), ("messages",))
    assert mapping.constants == ((S.ROUTER, "litellm"),)
    assert mapping.sensitive


def test_yaml_mapping_is_equivalent(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "format: jsonl\nfields:\n  timestamp: {path: startTime, unit: ms}\n"
        "  distillguard.account.id: {path: user, sensitive: true}\n"
        "  gen_ai.usage.input_tokens: usage.prompt_tokens\n"
        "  gen_ai.input.messages: [request.body.messages, messages]\n"
        "constants:\n  distillguard.router.id: litellm\n"
    )
    toml = tmp_path / "m.toml"
    toml.write_text(GOOD_TOML)
    assert load_mapping(path).rules == load_mapping(toml).rules


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('format = "jsonl"\n\n[fieldz]\ntimestamp = "t"\n', 3, "unknown key 'fieldz'"),
        ('[fields]\ntimestamp = "t"\n"distillguard.acount.id" = "u"\n', 3, "unknown canonical"),
        ('[fields]\ntimestamp = { path = "t", units = "ms" }\n', 2, "unknown key 'units'"),
        ('[fields]\n"distillguard.event.key" = "id"\n', 2, "derived"),
        ('[fields]\ntimestamp = { path = "t", unit = "days" }\n', 2, "unit must be"),
        ('[fields]\n"gen_ai.usage.input_tokens" = { path = "t", sensitive = true }\n', 2, "text"),
        ('format = "xml"\n[fields]\ntimestamp = "t"\n', 1, "format must be"),
        ("[fields]\ntimestamp = 5\n", 2, "needs a path"),
    ],
)
def test_bad_toml_names_file_and_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(IngestError) as info:
        load_mapping(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert words in message


def test_bad_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("fields:\n  timestamp: t\n  gen_ai.request.model:\n    path: m\n    kind: x\n")
    with pytest.raises(IngestError, match=rf"^{path}:5: unknown key 'kind'"):
        load_mapping(path)


def test_unparseable_mapping_is_an_ingest_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[fields\n")
    with pytest.raises(IngestError, match="invalid TOML"):
        load_mapping(path)


def test_resolve_walks_nested_paths_dotted_keys_lists_and_json_text() -> None:
    record = {
        "usage": {"prompt_tokens": 12},
        "attributes": {"gen_ai.request.model": "m1"},
        "choices": [{"finish_reason": "stop"}],
        "request_body": '{"messages": [{"role": "user", "content": "hi"}]}',
    }
    assert resolve(record, ("usage", "prompt_tokens")) == 12
    assert resolve(record, tuple(["attributes", "gen_ai", "request", "model"])) == "m1"
    assert resolve(record, ("choices", "0", "finish_reason")) == "stop"
    assert resolve(record, ("request_body", "messages", "0", "content")) == "hi"
    assert resolve(record, ("usage", "missing")) is None
    assert resolve(record, ("choices", "9", "finish_reason")) is None
    assert resolve(record, ("choices", "x")) is None
    assert resolve({"a": "{not json"}, ("a", "b")) is None


def test_sensitive_hash_is_keyed_stable_and_needs_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    one, other = SensitiveHasher(b"k1"), SensitiveHasher(b"k2")
    assert one("acct-42") == one("acct-42") != other("acct-42")
    assert "acct-42" not in one("acct-42")
    monkeypatch.delenv("DISTILLGUARD_HASH_KEY", raising=False)
    with pytest.raises(IngestError, match="DISTILLGUARD_HASH_KEY"):
        SensitiveHasher.from_env("DISTILLGUARD_HASH_KEY")


def test_examples_ship_and_load_by_name() -> None:
    assert set(example_mappings()) >= {"litellm", "openai", "nginx"}
    for name in ("litellm", "openai", "nginx"):
        mapping = load_mapping(name)
        assert mapping.sensitive
        assert {rule.target for rule in mapping.rules} >= {S.TIMESTAMP, S.ACCOUNT}
