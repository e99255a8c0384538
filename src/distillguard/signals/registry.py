"""Signal registry and configuration.

Built-in signals register explicitly by id below; third-party signals register through the
entry-point group ``distillguard.signals`` (``name = "package.module:SomeSignal"``). No
``__subclasses__()`` walking: what is registered never depends on what happens to be imported.

Config (YAML or a mapping)::

    signals:
      reasoning: {enabled: true}
      jailbreak: {enabled: true, params: {classifier: false}}
      params: {params: {max_tokens_cap: {"*": 32768, frontier-2: 64000}}}
    template: {threshold: 0.7, num_perm: 64, max_templates: 500000}
    embedding: {enabled: false}

Unknown keys anywhere are errors (``SignalConfigError``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from distillguard.signals.base import Signal, SignalConfigError
from distillguard.signals.dataset import DatasetSignal
from distillguard.signals.grader import GraderSignal
from distillguard.signals.jailbreak import JailbreakSignal
from distillguard.signals.params import ParamsSignal
from distillguard.signals.reasoning import ReasoningSignal
from distillguard.signals.rewrite import RewriteSignal
from distillguard.signals.synthetic import SyntheticSignal

__all__ = [
    "BUILTIN",
    "CONTRACT_IDS",
    "ENTRY_POINT_GROUP",
    "SignalConfig",
    "SignalSpec",
    "load_config",
    "registered",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "distillguard.signals"

BUILTIN: dict[str, type[Signal]] = {
    cls.id: cls
    for cls in (
        ReasoningSignal,
        SyntheticSignal,
        GraderSignal,
        RewriteSignal,
        JailbreakSignal,
        DatasetSignal,
        ParamsSignal,
    )
}
# Columns the runner always emits, in this order (the signal output contract).
CONTRACT_IDS: tuple[str, ...] = tuple(BUILTIN)

_TOP_KEYS = {"signals", "template", "embedding"}
_SPEC_KEYS = {"enabled", "params"}
_TEMPLATE_KEYS = {"threshold", "num_perm", "shingle", "max_templates", "max_chars"}
_EMBED_KEYS = {"enabled", "threshold", "max_clusters", "batch_size"}


def registered() -> dict[str, type[Signal]]:
    """Built-ins plus entry-point signals (a third party cannot shadow a built-in id)."""
    found = dict(BUILTIN)
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except Exception as exc:  # a broken plugin must not stop the scan
            log.warning("signal plugin %s failed to load: %s", ep.name, exc)
            continue
        if not (isinstance(cls, type) and issubclass(cls, Signal)) or not cls.id:
            log.warning("entry point %s is not a Signal subclass with an id; skipped", ep.name)
            continue
        if cls.id in found:
            log.warning("signal plugin %s reuses id %r; skipped", ep.name, cls.id)
            continue
        found[cls.id] = cls
    return found


@dataclass(frozen=True)
class SignalSpec:
    id: str
    enabled: bool = True
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SignalConfig:
    signals: tuple[SignalSpec, ...]
    template: dict[str, Any]
    embedding: dict[str, Any]

    def build(self) -> list[Signal]:
        """Instantiate the enabled signals (parameters validated by each signal)."""
        known = registered()
        return [known[s.id](**s.params) for s in self.signals if s.enabled]


def _check_keys(where: str, data: Any, allowed: set[str]) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SignalConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    unknown = set(data) - allowed
    if unknown:
        raise SignalConfigError(
            f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}"
        )
    return dict(data)


def load_config(source: str | Path | dict[str, Any] | None = None) -> SignalConfig:
    """Validate a config (path to YAML, mapping, or None for defaults: every signal on)."""
    where = "signal config"
    if isinstance(source, (str, Path)):
        where = str(source)
        data: Any = yaml.safe_load(Path(source).read_text(encoding="utf-8")) or {}
    else:
        data = source or {}
    top = _check_keys(where, data, _TOP_KEYS)
    known = registered()
    raw_signals = _check_keys(f"{where}: signals", top.get("signals"), set(known))
    specs = []
    for sid in known:
        raw = _check_keys(f"{where}: signals.{sid}", raw_signals.get(sid), _SPEC_KEYS)
        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            raise SignalConfigError(f"{where}: signals.{sid}.enabled must be true or false")
        params = _check_keys(f"{where}: signals.{sid}.params", raw.get("params"),
                             set(known[sid].defaults))  # fmt: skip
        specs.append(SignalSpec(sid, enabled, params))
    template = _check_keys(f"{where}: template", top.get("template"), _TEMPLATE_KEYS)
    embedding = _check_keys(f"{where}: embedding", top.get("embedding"), _EMBED_KEYS)
    return SignalConfig(tuple(specs), template, embedding)
