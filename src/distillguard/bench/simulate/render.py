"""Turn sorted event times into canonical event rows and their labels.

Metadata columns are gathered from the cast with numpy; only prompt text is
assembled per event. Responses are stand-ins: token counts follow realistic
distributions (``gen_ai.usage.*``), response text is never produced.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from distillguard import schema as S
from distillguard.bench.simulate import catalog as C
from distillguard.bench.simulate import templates as T
from distillguard.bench.simulate.ids import hex_ids, mix64
from distillguard.bench.simulate.library import PoolItem, PromptLibrary
from distillguard.bench.simulate.scenario import Scenario
from distillguard.bench.simulate.subjects import (
    EVAL_BENCHES,
    K_APP,
    K_ATTACK,
    K_BATCH,
    K_CHAT,
    K_EVAL,
    POPULATION_LABELS,
    Cast,
)
from distillguard.bench.simulate.timeline import EventBlock

__all__ = ["RESEARCH_POOLS", "EventRenderer", "RenderedChunk"]

RESEARCH_POOLS = ("gsm8k", "champ", "logiqa", "asdiv", "mmlu")
_H_MS = 3_600_000
# Median output tokens by prompt kind / attack style (lognormal, sigma 0.7).
_OUT_MEDIAN = {"chat": 350, "app": 180, "batch": 40, "research": 650, "mmlu": 4, "gsm8k": 190,
               "humaneval": 160, "plain": 400, "cot_coercion": 1100, "synthetic_data": 2200,
               "grading": 120, "rewrite": 450, "jailbreak": 500, "agentic": 900}  # fmt: skip
_REASONING_MEDIAN = (1500, 250, 1100, 3500, 8000)  # by reasoning level index ("" = default)
_REFUSAL = {"jailbreak": 0.35, "rewrite": 0.15}
_ROTATE_SHARE = 0.35


@dataclass(frozen=True)
class RenderedChunk:
    """Canonical event columns (schema order) plus the per-event labels."""

    columns: dict[str, list[Any]]  # timestamps as ISO strings (JSONL form)
    labels: dict[str, list[Any]]
    ts_ms: np.ndarray  # the same timestamps as epoch ms (Parquet form)
    created_ms: np.ndarray

    def __len__(self) -> int:
        return len(self.columns[S.TIMESTAMP])


@dataclass
class EventRenderer:
    """Stateful across chunks (sweep counters, event serial); feed chunks in time order."""

    scenario: Scenario
    cast: Cast
    lib: PromptLibrary
    seed: int
    _serial: int = 0
    _chunks: int = 0
    _counters: dict[int, int] = field(default_factory=dict)
    _camp_items: list[tuple[PoolItem, ...]] = field(default_factory=list)
    _camp_order: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        rng = np.random.default_rng([self.seed, 3])
        for c in self.scenario.campaigns:
            items = tuple(it for name in c.pools for it in self.lib.pool(name))
            self._camp_items.append(items)
            self._camp_order.append(rng.permutation(len(items)))

    def render(self, ev: EventBlock) -> RenderedChunk:
        n = len(ev)
        cast, s, a = self.cast, self.cast.subjects, self.cast.accounts
        rng = np.random.default_rng([self.seed, 4, self._chunks])
        r = random.Random(int(mix64(np.array([self._chunks]), self.seed)[0]))
        self._chunks += 1
        subj = ev.subject
        acc = s.account[subj]
        camp = s.campaign[subj]
        kind = s.kind[subj]
        serial = np.arange(self._serial, self._serial + n, dtype=np.int64)
        self._serial += n
        hours = (ev.ts_ms - int(self.scenario.start.timestamp() * 1000)) / _H_MS

        # -- prompts (the only per-event Python loop) -------------------------
        cover = np.zeros(n, dtype=bool)
        for ci, c in enumerate(self.scenario.campaigns):
            if c.cover_share > 0:
                m = camp == ci
                cover[m] = rng.random(int(m.sum())) < c.cover_share
        cover_conv = rng.integers(0, len(self.lib.conversations), n)
        prompts: list[str] = []
        systems: list[str | None] = []
        messages: list[str | None] = []
        turns: list[int] = []
        labels_style: list[str] = []
        for i in range(n):
            k = int(kind[i])
            si = int(subj[i])
            if k == K_CHAT or cover[i]:
                conv = int(ev.conv[i]) if k == K_CHAT else int(cover_conv[i])
                turn = int(ev.turn[i]) if k == K_CHAT else 0
                msg, text = self.lib.history(conv, turn)
                prompts.append(text)
                messages.append(msg if turn > 0 else None)
                systems.append(None)
                turns.append(turn + 1)
                labels_style.append("chat")
                continue
            system, style, text = self._compose(k, si, r)
            prompts.append(text)
            systems.append(system)
            messages.append(None)
            turns.append(1)
            labels_style.append(style)

        # -- network ------------------------------------------------------------
        net = a.net[acc].copy()
        host = a.ip_base[acc] + (rng.random(n) * a.ip_pool[acc]).astype(np.int64)
        proxied = a.proxy[acc] >= 0
        for ci in np.unique(a.proxy[acc][proxied]):
            m = np.flatnonzero(a.proxy[acc] == ci)
            # Proxy pools: a sticky exit per account most of the time (commercial
            # residential proxies sell sticky sessions), otherwise a rotated exit.
            rotate = m[rng.random(len(m)) < _ROTATE_SHARE]
            net[rotate] = rng.choice(len(C.NETWORKS), size=len(rotate), p=cast.proxy_nets[int(ci)])
            sticky = np.setdiff1d(m, rotate)
            host[sticky] = (
                a.ip_base[acc[sticky]]
                + (acc[sticky] * 7919 + self._chunks) % a.ip_pool[acc[sticky]]
            )
        nets = C.NETWORKS
        asn = np.array([x.asn for x in nets])[net]
        as_org = [nets[i].as_org for i in net]
        ip_type = [nets[i].ip_type for i in net]
        country = [nets[i].country for i in net]
        ips = C.ip_address(net, host)

        # -- request parameters ---------------------------------------------------
        model = np.where(rng.random(n) < s.p_alt[subj], s.model_alt[subj], s.model[subj])
        if cast.release_model >= 0:
            adopt = (hours >= cast.release_hour) & (rng.random(n) < s.adopt[subj])
            pivot_at = np.array([*cast.pivot_hour, math.inf])[camp]
            pivot = (hours >= pivot_at) & (rng.random(n) < 0.5)
            model = np.where(adopt | pivot, cast.release_model, model)
        max_tok = np.array(C.MAX_TOKENS)[s.max_tokens[subj]]
        temp = np.array(C.TEMPERATURES)[s.temperature[subj]]
        level = s.reasoning[subj]
        n_choice = np.array(C.CHOICE_COUNTS)[s.choices[subj]]
        logprobs = s.logprobs[subj]

        # -- usage (stand-in responses) -------------------------------------------
        medians = np.array([_OUT_MEDIAN.get(x, 300) for x in labels_style], dtype=float)
        out_tok = np.maximum(rng.lognormal(np.log(medians), 0.7), 1).astype(np.int64) * n_choice
        capped = (max_tok > 0) & (out_tok > max_tok * n_choice)
        out_tok = np.where(capped, max_tok * n_choice, out_tok)
        chars = np.array(
            [len(p) + len(m or "") + len(y or "") for p, m, y in zip(prompts, messages, systems,
                                                                     strict=True)],
            dtype=float,
        )  # fmt: skip
        in_tok = (chars / 3.7 + 4).astype(np.int64)
        reasons = (level > 0) | (model == 2) | (model == cast.release_model)
        r_med = np.array(_REASONING_MEDIAN, dtype=float)[level]
        r_tok = np.maximum(rng.lognormal(np.log(r_med), 0.8), 16).astype(np.int64)
        refusal_p = np.array([_REFUSAL.get(x, 0.015) for x in labels_style])
        refusal = rng.random(n) < refusal_p

        ts_txt = np.datetime_as_string(ev.ts_ms.astype("datetime64[ms]"), unit="ms")
        req = hex_ids("req_", serial, self.seed * 11 + 9)
        # Cover traffic opens a fresh conversation each time, like a one-shot chat.
        session = np.where(cover, (1 << 40) + serial, ev.session)
        sess = hex_ids("conv_", session, self.seed * 11 + 7, 16)
        is_chat = (session >= 0).tolist()
        stacks = C.CLIENT_STACKS
        stack = a.stack[acc]
        models = cast.models
        levels = C.REASONING_LEVELS
        acc_l = acc.tolist()
        finish = [["length"] * int(k) if c else ["stop"] * int(k)
                  for c, k in zip(capped.tolist(), n_choice.tolist(), strict=True)]  # fmt: skip
        cols: dict[str, list[Any]] = {
            S.TIMESTAMP: [t + "Z" for t in ts_txt.tolist()],
            S.ACCOUNT: [a.ids[i] for i in acc_l],
            S.PROMPT: prompts,
            S.EVENT_KEY: [None] * n,
            S.REQUEST_ID: req,
            S.ORG: [a.org[i] for i in acc_l],
            S.API_KEY: [a.api_key[i] for i in acc_l],
            S.ACCOUNT_CREATED: [
                t + "Z"
                for t in np.datetime_as_string(
                    a.created_ms[acc].astype("datetime64[ms]"), unit="s"
                ).tolist()
            ],
            S.ACCOUNT_TIER: [C.TIERS[i] for i in a.tier[acc]],
            S.PAYMENT: [a.payment[i] for i in acc_l],
            S.MODEL: [models[i] for i in model],
            S.MAX_TOKENS: [None if x < 0 else x for x in max_tok.tolist()],
            S.TEMPERATURE: [None if x < 0 else x for x in temp.tolist()],
            S.TOP_P: [None] * n,
            S.SEED: [None if x < 0 else x for x in s.seed[subj].tolist()],
            S.REASONING_LEVEL: [levels[i] or None for i in level],
            S.CHOICE_COUNT: n_choice.tolist(),
            S.INPUT_TOKENS: in_tok.tolist(),
            S.OUTPUT_TOKENS: out_tok.tolist(),
            S.REASONING_TOKENS: np.where(reasons, r_tok, -1).tolist(),
            S.FINISH_REASONS: finish,
            S.CONVERSATION: [x if c else None for x, c in zip(sess, is_chat, strict=True)],
            S.SYSTEM: systems,
            S.INPUT_MESSAGES: messages,
            S.OUTPUT_MESSAGES: [None] * n,
            S.TURNS: turns,
            S.CLIENT_ADDRESS: ips,
            S.USER_AGENT: [stacks[i].user_agent for i in stack],
            S.ENDUSER: [s.enduser[i] for i in subj],
            S.SESSION: [None] * n,
            S.COUNTRY: country,
            S.ASN: asn.tolist(),
            S.AS_ORG: as_org,
            S.IP_TYPE: ip_type,
            S.TLS_FINGERPRINT: [stacks[i].tls for i in stack],
            S.LOGPROBS: logprobs.tolist(),
            S.TOP_LOGPROBS: [5 if x else None for x in logprobs.tolist()],
            S.REFUSAL: refusal.tolist(),
            S.REASONING_TEXT: [None] * n,
            S.ROUTER: [a.router[i] for i in acc_l],
        }
        cols[S.REASONING_TOKENS] = [None if x < 0 else x for x in cols[S.REASONING_TOKENS]]
        ids = cast.campaign_ids
        labels = {
            S.EVENT_KEY: req,
            S.ACCOUNT: cols[S.ACCOUNT],
            S.ENDUSER: cols[S.ENDUSER],
            "campaign_id": [ids[c] if c >= 0 else None for c in camp.tolist()],
            "population": [POPULATION_LABELS[p] for p in s.population[subj]],
            "style": labels_style,
        }
        return RenderedChunk(cols, labels, ev.ts_ms, a.created_ms[acc])

    def _next(self, group: int) -> int:
        value = self._counters.get(group, 0)
        self._counters[group] = value + 1
        return value

    def _compose(self, k: int, si: int, r: random.Random) -> tuple[str | None, str, str]:
        """(system, style label, prompt) for one non-chat event of subject ``si``."""
        s, lib = self.cast.subjects, self.lib
        sys_i = int(s.system[si])
        system = T.APP_SYSTEMS[sys_i].replace("{company}", r.choice(T.COMPANIES)) or None \
            if sys_i >= 0 else None  # fmt: skip
        if k == K_APP:
            t = int(s.template[si]) if r.random() < 0.8 else int(s.template2[si])
            return system, "app", T.fill_app(T.APP_TEMPLATES[t], lib, r)
        if k == K_BATCH:
            return system, "batch", T.fill_app(T.BATCH_TEMPLATES[int(s.template[si])], lib, r)
        if k == K_EVAL:
            bench = EVAL_BENCHES[int(s.template[si])]
            pool = lib.pool(bench)
            item = pool[self._next(int(s.sweep[si])) % len(pool)]
            return None, bench, T.compose_eval(bench, item)
        if k != K_ATTACK:  # researcher
            pool = lib.pool(RESEARCH_POOLS[int(s.template[si]) % len(RESEARCH_POOLS)])
            return None, "research", T.compose_research(r.choice(pool), r)
        ci = int(s.campaign[si])
        c = self.scenario.campaigns[ci]
        items = self._camp_items[ci]
        if "capability_sweep" in c.strategies:
            # Each item once across the whole campaign, split over its accounts.
            item = items[int(self._camp_order[ci][self._next(int(s.sweep[si])) % len(items)])]
        else:
            item = items[r.randrange(len(items))]
        style = c.styles[r.randrange(len(c.styles))]
        prompt, system = T.compose_attack(style, item, lib, r, int(s.variant[si]))
        return system, style, prompt
