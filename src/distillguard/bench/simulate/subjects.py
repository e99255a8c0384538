"""Accounts and subjects of a scenario: who sends traffic, from where, with what client.

Everything here is drawn once per run (vectorised, numpy) and kept as column
arrays; the timeline and the renderer only gather from them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from distillguard.bench.simulate import catalog as C
from distillguard.bench.simulate.ids import hex_ids
from distillguard.bench.simulate.scenario import CampaignSpec, PopulationSpec, Scenario

__all__ = [
    "KINDS",
    "POPULATION_LABELS",
    "RHYTHMS",
    "Accounts",
    "Cast",
    "Subjects",
    "build_cast",
]

# How a subject's prompts are made.
KINDS = ("chat", "app", "batch", "eval", "research", "attack")
K_CHAT, K_APP, K_BATCH, K_EVAL, K_RESEARCH, K_ATTACK = range(6)
RHYTHMS = ("diurnal", "workday", "flat", "block")
R_DIURNAL, R_WORKDAY, R_FLAT, R_BLOCK = range(4)
POPULATION_LABELS = (
    "chat", "developer_app", "enterprise_batch", "eval_runner", "researcher", "shared_nat",
    "router", "vpn_user", "new_account", "attack",
)  # fmt: skip
EVAL_BENCHES = ("mmlu", "gsm8k", "humaneval")
_DAY_MS = 86_400_000
_MAX_AGE_DAYS = 1400.0

# population kind -> (prompt kind, param role, rhythm)
_POP_PROFILE: dict[str, tuple[int, str, int]] = {
    "chat": (K_CHAT, "chat", R_DIURNAL),
    "developer_app": (K_APP, "app", R_DIURNAL),
    "enterprise_batch": (K_BATCH, "batch", R_FLAT),
    "eval_runner": (K_EVAL, "eval", R_BLOCK),
    "researcher": (K_RESEARCH, "research", R_WORKDAY),
    "shared_nat": (K_CHAT, "chat", R_WORKDAY),
    "router": (K_CHAT, "chat", R_DIURNAL),
    "vpn_user": (K_CHAT, "chat", R_DIURNAL),
    "new_account": (K_CHAT, "chat", R_DIURNAL),
}
# IP-type mix of each population's home networks (residential, datacenter, vpn, unknown)
_IP_MIX: dict[str, tuple[float, float, float, float]] = {
    "chat": (0.84, 0.06, 0.07, 0.03),
    "developer_app": (0.22, 0.70, 0.04, 0.04),
    "enterprise_batch": (0.05, 0.80, 0.0, 0.15),
    "eval_runner": (0.25, 0.55, 0.05, 0.15),
    "researcher": (0.45, 0.25, 0.05, 0.25),
    "shared_nat": (0.0, 0.0, 0.0, 1.0),
    "router": (0.0, 1.0, 0.0, 0.0),
    "vpn_user": (0.0, 0.0, 1.0, 0.0),
    "new_account": (0.65, 0.25, 0.07, 0.03),
}
_IP_TYPES = ("residential", "datacenter", "vpn", "unknown")
_PROXY_MIX = {
    "residential": (0.85, 0.05, 0.10, 0.0),
    "datacenter": (0.0, 0.9, 0.1, 0.0),
    "mixed": (0.5, 0.35, 0.15, 0.0),
}
ROUTER_NAMES = ("relaymesh", "tokenhub", "apibridge", "modelgate", "unifai", "switchyard")


@dataclass(frozen=True)
class Accounts:
    """Per-account columns (index = account number)."""

    ids: list[str]
    org: list[str]
    api_key: list[str]
    payment: list[str]
    tier: np.ndarray  # index into catalog.TIERS
    created_ms: np.ndarray  # epoch ms
    stack: np.ndarray  # index into catalog.CLIENT_STACKS
    net: np.ndarray  # home network (catalog.NETWORKS index)
    ip_base: np.ndarray  # first host number of the account's address pool
    ip_pool: np.ndarray  # how many addresses it uses
    proxy: np.ndarray  # campaign whose proxy pool it rotates through, -1 for none
    router: list[str | None]


@dataclass(frozen=True)
class Subjects:
    """Per-subject columns (index = subject number); a subject is (account, end user)."""

    account: np.ndarray
    enduser: list[str | None]
    population: np.ndarray  # index into POPULATION_LABELS
    campaign: np.ndarray  # campaign number or -1
    kind: np.ndarray  # index into KINDS
    role: np.ndarray  # index into catalog.ROLES
    volume: np.ndarray  # expected events per day while active
    tz: np.ndarray  # UTC offset in hours for rhythms
    rhythm: np.ndarray  # index into RHYTHMS
    active_from: np.ndarray  # hours since scenario start
    active_to: np.ndarray
    sweep: np.ndarray  # sweep group (eval org or campaign) or -1
    template: np.ndarray  # app/batch template, eval bench, or research pool
    template2: np.ndarray
    system: np.ndarray  # index into templates.APP_SYSTEMS, -1 none
    variant: np.ndarray  # template-mutation variant (0: canonical wrapper)
    model: np.ndarray  # index into catalog.MODELS
    model_alt: np.ndarray
    p_alt: np.ndarray
    adopt: np.ndarray  # probability of using a newly released model
    max_tokens: np.ndarray  # index into catalog.MAX_TOKENS
    temperature: np.ndarray
    reasoning: np.ndarray
    choices: np.ndarray  # index into catalog.CHOICE_COUNTS
    logprobs: np.ndarray  # bool
    seed: np.ndarray  # request seed or -1
    balanced: np.ndarray  # bool: events come from the campaign's load-balanced stream

    def __len__(self) -> int:
        return len(self.account)


@dataclass(frozen=True)
class Cast:
    """Accounts, subjects and the campaign-level facts the timeline needs."""

    accounts: Accounts
    subjects: Subjects
    campaign_ids: tuple[str, ...]
    proxy_nets: tuple[np.ndarray, ...]  # per campaign: network probabilities
    pivot_hour: tuple[float, ...]  # per campaign: when half the traffic moves (inf: never)
    models: tuple[str, ...]  # catalog.MODELS[:3] then the scenario's released models
    release_model: int  # index into models of the released model, -1 none
    release_hour: float


class _Builder:
    """Accumulates accounts and subjects as column lists, then freezes them."""

    def __init__(self, scenario: Scenario, rng: np.random.Generator, seed: int) -> None:
        self.sc, self.rng, self.seed = scenario, rng, seed
        self.start_ms = int(scenario.start.timestamp() * 1000)
        self.a: dict[str, list[object]] = {k: [] for k in Accounts.__dataclass_fields__}
        self.s: dict[str, list[object]] = {k: [] for k in Subjects.__dataclass_fields__}
        self.n_orgs = 0
        self.n_payments = 0
        self.n_sweeps = 0
        self.next_host = 1

    # -- draws -------------------------------------------------------------
    def pick(self, weights: np.ndarray, size: int) -> np.ndarray:
        w = np.asarray(weights, dtype=float)
        return self.rng.choice(len(w), size=size, p=w / w.sum())

    def networks(self, ip_mix: tuple[float, ...], size: int) -> np.ndarray:
        types = self.pick(np.asarray(ip_mix), size)
        out = np.empty(size, dtype=np.int64)
        for t, name in enumerate(_IP_TYPES):
            idx = np.flatnonzero(types == t)
            if len(idx):
                out[idx] = self.pick(C.network_weights(name), len(idx))
        return out

    def tz_for(self, nets: np.ndarray) -> np.ndarray:
        tz = np.array([C.COUNTRIES.get(C.NETWORKS[n].country, (0, 0.0))[1] for n in nets])
        # Cloud-hosted clients serve users anywhere; draw their rhythm's zone by popularity.
        cloud = np.array([C.NETWORKS[n].ip_type == "datacenter" for n in nets], dtype=bool)
        if cloud.any():
            zones = np.array([v[1] for v in C.COUNTRIES.values()])
            pops = np.array([v[0] for v in C.COUNTRIES.values()])
            tz[cloud] = zones[self.pick(pops, int(cloud.sum()))]
        return tz

    def ages_ms(self, size: int, median_days: float = 240.0) -> np.ndarray:
        days = self.rng.lognormal(math.log(median_days), 1.1, size)
        # Ages past the cap fold back into its second half: clipped, ~5% of every population
        # shared one creation instant, a bulk sign-up that no one made.
        cap = _MAX_AGE_DAYS
        days = np.where(days > cap, cap / 2 + days % (cap / 2), days)
        return (days * _DAY_MS).astype(np.int64)

    # -- accounts ----------------------------------------------------------
    def add_accounts(
        self,
        n: int,
        *,
        role: str,
        nets: np.ndarray,
        created_ms: np.ndarray,
        stacks: np.ndarray | None = None,
        tiers: np.ndarray | None = None,
        orgs: np.ndarray | None = None,
        payments: np.ndarray | None = None,
        ip_pool: np.ndarray | None = None,
        ip_base: np.ndarray | None = None,
        proxy: int = -1,
        router: str | None = None,
    ) -> np.ndarray:
        first = len(self.a["tier"])
        idx = np.arange(first, first + n)
        if orgs is None:
            orgs = np.arange(self.n_orgs, self.n_orgs + n)
            self.n_orgs += n
        if payments is None:
            payments = np.arange(self.n_payments, self.n_payments + n)
            self.n_payments += n
        if ip_pool is None:
            ip_pool = self.rng.integers(1, 4, n)
        if ip_base is None:
            ip_base = self.next_host + np.concatenate([[0], np.cumsum(ip_pool)[:-1]])
            self.next_host += int(ip_pool.sum())
        self.a["ids"].extend(hex_ids("acct_", idx, self.seed * 7 + 1))
        self.a["org"].extend(hex_ids("org_", orgs, self.seed * 7 + 2, 12))
        self.a["api_key"].extend(hex_ids("key_", idx, self.seed * 7 + 3))
        self.a["payment"].extend(hex_ids("pm_", payments, self.seed * 7 + 4, 12))
        self.a["tier"].extend(
            tiers if tiers is not None else self.pick(C.role_weights(C.TIER_WEIGHTS, role), n)
        )
        self.a["created_ms"].extend(created_ms)
        self.a["stack"].extend(
            stacks if stacks is not None else self.pick(C.stack_weights(role), n)
        )
        self.a["net"].extend(nets)
        self.a["ip_base"].extend(ip_base)
        self.a["ip_pool"].extend(ip_pool)
        self.a["proxy"].extend([proxy] * n)
        self.a["router"].extend([router] * n)
        return idx

    # -- subjects ----------------------------------------------------------
    def add_subjects(
        self,
        accounts: np.ndarray,
        *,
        population: str,
        kind: int,
        role: str,
        rhythm: int,
        volume: np.ndarray,
        tz: np.ndarray,
        endusers: list[str | None] | None = None,
        campaign: int = -1,
        active: tuple[np.ndarray, np.ndarray] | None = None,
        sweep: np.ndarray | None = None,
        template: np.ndarray | None = None,
        template2: np.ndarray | None = None,
        variant: np.ndarray | None = None,
        system: np.ndarray | None = None,
        params_from: dict[str, np.ndarray] | None = None,
        balanced: bool = False,
    ) -> None:
        n = len(accounts)
        rng, hours = self.rng, self.sc.hours
        s = self.s
        s["account"].extend(accounts)
        s["enduser"].extend(endusers if endusers is not None else [None] * n)
        s["population"].extend([POPULATION_LABELS.index(population)] * n)
        s["campaign"].extend([campaign] * n)
        s["kind"].extend([kind] * n)
        s["role"].extend([C.ROLES.index(role)] * n)
        s["volume"].extend(volume)
        s["tz"].extend(tz)
        s["rhythm"].extend([rhythm] * n)
        lo, hi = active if active is not None else (np.zeros(n), np.full(n, hours))
        s["active_from"].extend(lo)
        s["active_to"].extend(hi)
        s["sweep"].extend(sweep if sweep is not None else np.full(n, -1))
        s["template"].extend(template if template is not None else np.zeros(n, dtype=int))
        s["template2"].extend(template2 if template2 is not None else np.zeros(n, dtype=int))
        s["variant"].extend(variant if variant is not None else np.zeros(n, dtype=int))
        s["system"].extend(system if system is not None else np.full(n, -1))
        params = self.params(role, n)
        if params_from is not None:
            params.update(params_from)
        for key, values in params.items():
            s[key].extend(values)
        s["balanced"].extend([balanced] * n)
        # Adoption of a new model: evaluators and researchers try it first (a hard
        # negative for "pivot to the new model within 24 h").
        adopt = {"chat": 0.12, "app": 0.04, "batch": 0.01, "eval": 0.45, "research": 0.35,
                 "attack": 0.1}[role]  # fmt: skip
        s["adopt"].extend(np.clip(rng.beta(1.0, 1.0 / max(adopt, 1e-3) - 1.0, n), 0, 1))

    def params(self, role: str, n: int) -> dict[str, np.ndarray]:
        rng = self.rng
        models = self.pick(np.asarray(C.MODEL_WEIGHTS[role], dtype=float) + 0.5, n)
        alts = self.pick(np.asarray(C.MODEL_WEIGHTS[role], dtype=float) + 0.5, n)
        seeds = np.where(
            rng.random(n) < {"eval": 0.5, "attack": 0.1}.get(role, 0.03),
            rng.choice([0, 1, 42, 1234], n),
            -1,
        )
        return {
            "model": models,
            "model_alt": alts,
            "p_alt": rng.beta(0.6, 3.0, n),
            "max_tokens": self.pick(C.role_weights(C.MAX_TOKENS_WEIGHTS, role), n),
            "temperature": self.pick(C.role_weights(C.TEMPERATURE_WEIGHTS, role), n),
            "reasoning": self.pick(C.role_weights(C.REASONING_WEIGHTS, role), n),
            "choices": self.pick(C.role_weights(C.CHOICE_WEIGHTS, role), n),
            "logprobs": rng.random(n) < C.LOGPROBS_SHARE[role],
            "seed": seeds,
        }

    def volumes(self, spec_median: float, sigma: float, n: int) -> np.ndarray:
        return self.rng.lognormal(math.log(spec_median), sigma, n)

    def freeze(self) -> tuple[Accounts, Subjects]:
        a, s = self.a, self.s
        int_cols = {"tier", "created_ms", "stack", "net", "ip_base", "ip_pool", "proxy"}
        acc_cols: dict[str, Any] = {
            k: (np.asarray(v, dtype=np.int64) if k in int_cols else list(v)) for k, v in a.items()
        }
        acc = Accounts(**acc_cols)
        float_cols = {"volume", "tz", "active_from", "active_to", "p_alt", "adopt"}
        list_cols = {"enduser"}
        cols: dict[str, Any] = {}
        for k, v in s.items():
            if k in list_cols:
                cols[k] = list(v)
            elif k in float_cols:
                cols[k] = np.asarray(v, dtype=np.float64)
            elif k in {"logprobs", "balanced"}:
                cols[k] = np.asarray(v, dtype=bool)
            else:
                cols[k] = np.asarray(v, dtype=np.int64)
        return acc, Subjects(**cols)


def _benign(b: _Builder, pop: PopulationSpec, pool_sizes: dict[str, int]) -> None:
    kind, role, rhythm = _POP_PROFILE[pop.kind]
    rng, n = b.rng, pop.accounts
    hours = b.sc.hours
    created = b.start_ms - b.ages_ms(n)
    if pop.kind == "chat":
        # ~3% of long-standing populations are brand-new accounts too.
        fresh = rng.random(n) < 0.03
        created[fresh] = b.start_ms - rng.integers(60_000, 7 * _DAY_MS, int(fresh.sum()))
    if pop.kind == "new_account":
        created = b.start_ms + (rng.random(n) * hours * 3_600_000 * 0.8).astype(np.int64)
    if pop.kind == "researcher":
        # Courses and workshops sign their participants up together: cohorts of 8-30.
        cohort = np.repeat(np.arange(n), rng.integers(8, 31, n))[:n]
        created = _bulk_signups(b, created, cohort, 0.4, (0.6, 1.0), 3_600_000)
    if pop.kind == "router":
        _routers(b, pop)
        return
    nets = b.networks(_IP_MIX[pop.kind], n)
    kwargs: dict[str, Any] = {}
    if pop.kind == "shared_nat":
        per_org = max(pop.accounts_per_org, 2)
        org_of = np.arange(n) // per_org
        n_org = int(org_of.max()) + 1
        # An admin provisions a team's accounts in one go (SSO / SCIM).
        created = _bulk_signups(b, created, org_of, 0.5, (0.3, 1.0), 900_000)
        org_net = b.networks(_IP_MIX["shared_nat"], n_org)
        ips = max(pop.ips, 1)
        nets = org_net[org_of]
        kwargs["orgs"] = b.n_orgs + org_of
        b.n_orgs += n_org
        kwargs["ip_base"] = b.next_host + org_of * ips
        kwargs["ip_pool"] = np.full(n, ips)
        b.next_host += n_org * ips
    if pop.kind == "vpn_user":
        # VPN exits are shared by many customers: a small pool per provider.
        kwargs["ip_base"] = 900_000 + nets * 64
        kwargs["ip_pool"] = np.full(n, 48)
    if pop.kind in ("developer_app", "enterprise_batch"):
        kwargs["ip_pool"] = rng.integers(1, 9, n)
    accs = b.add_accounts(n, role=role, nets=nets, created_ms=created, **kwargs)
    volume = b.volumes(pop.daily_events, pop.sigma, n)
    lo, hi = np.zeros(n), np.full(n, hours)
    if pop.kind == "new_account":
        lo = (created - b.start_ms) / 3_600_000 + rng.uniform(0.01, 0.5, n)
    template = template2 = sweep = None
    if kind == K_APP:
        shared = rng.random(n) < 0.4  # framework default prompts
        template = np.where(shared, rng.integers(0, 4, n), rng.integers(4, 16, n))
        template2 = rng.integers(0, 16, n)
    elif kind == K_BATCH:
        template = rng.integers(0, 6, n)
    elif kind == K_EVAL:
        # An eval org of 1-3 accounts sweeps one benchmark in dataset order.
        org_size = rng.integers(1, 4, n)
        group = np.repeat(np.arange(n), org_size)[:n]
        bench = rng.choice(len(EVAL_BENCHES), size=n, p=[0.5, 0.35, 0.15])[group]
        sweep = b.n_sweeps + group
        b.n_sweeps += int(group.max()) + 1
        template = bench
        # Volume covers one to a few passes over the benchmark, split across the org.
        sizes = np.array([pool_sizes.get(EVAL_BENCHES[i], 1000) for i in bench], dtype=float)
        passes = rng.choice([1, 1, 2, 3], n)
        volume = np.minimum(sizes * passes / np.bincount(group)[group], volume)
        dur = rng.uniform(1.0, 8.0, n)
        lo = rng.uniform(0, max(hours - dur.min(), 0.1), n)
        lo = np.minimum(lo, np.maximum(hours - dur, 0))
        hi = lo + dur
        volume = volume * 24.0 / dur  # rate while the block runs
    elif kind == K_RESEARCH:
        template = rng.integers(0, 5, n)
    system = rng.integers(-1, 6, n) if kind in (K_APP, K_BATCH) else None
    b.add_subjects(
        accs, population=pop.kind, kind=kind, role=role, rhythm=rhythm, volume=volume,
        tz=b.tz_for(nets), active=(lo, hi), sweep=sweep, template=template, template2=template2,
        system=system,
    )  # fmt: skip


def _bulk_signups(
    b: _Builder,
    created: np.ndarray,
    group: np.ndarray,
    group_share: float,
    member_share: tuple[float, float],
    window_ms: int,
) -> np.ndarray:
    """Benign bulk creation: in ``group_share`` of the groups, a share of the members (drawn
    from ``member_share``) got their accounts within one ``window_ms`` on the group's own day.
    The hard negative for the bulk-creation evidence of rings."""
    rng = b.rng
    n_groups = int(group.max()) + 1
    bulk = rng.random(n_groups) < group_share
    day = b.start_ms - b.ages_ms(n_groups)
    share = rng.uniform(*member_share, n_groups)
    pick = bulk[group] & (rng.random(group.shape[0]) < share[group])
    out = created.copy()
    out[pick] = day[group[pick]] + rng.uniform(0, window_ms, int(pick.sum())).astype(np.int64)
    return out


def _routers(b: _Builder, pop: PopulationSpec) -> None:
    for r in range(pop.accounts):
        name = ROUTER_NAMES[r % len(ROUTER_NAMES)] + ("" if r < len(ROUTER_NAMES) else str(r))
        net = b.networks((0, 1, 0, 0), 1)
        acc = b.add_accounts(
            1, role="app", nets=net, created_ms=b.start_ms - b.ages_ms(1, 500),
            ip_pool=np.array([6]), router=name, tiers=np.array([C.TIERS.index("enterprise")]),
        )  # fmt: skip
        _router_users(b, int(acc[0]), pop.endusers, pop, r)


def _router_users(b: _Builder, account: int, n: int, pop: PopulationSpec, salt: int) -> None:
    users = hex_ids("u_", np.arange(n) + salt * 10_000_000, b.seed * 7 + 5, 12)
    # A share of the end users come through one downstream app that wraps their text
    # in the same template: hundreds of subjects sharing a template, all benign.
    app = b.rng.random(n) < 0.4
    template = np.full(n, int(b.rng.integers(4, 16)))
    for kind, role, mask in ((K_CHAT, "chat", ~app), (K_APP, "app", app)):
        k = int(mask.sum())
        if not k:
            continue
        b.add_subjects(
            np.full(k, account), population="router", kind=kind, role=role, rhythm=R_DIURNAL,
            volume=b.volumes(pop.daily_events, pop.sigma, k),
            tz=b.tz_for(b.networks(_IP_MIX["chat"], k)),
            endusers=[u for u, m in zip(users, mask, strict=True) if m],
            template=template[:k], template2=template[:k],
        )  # fmt: skip


def _campaign(b: _Builder, ci: int, c: CampaignSpec) -> None:
    rng = b.rng
    n = c.accounts
    strat = set(c.strategies)
    # Hydra: a live pool of m accounts; at each replacement, a share is "banned" and
    # successors with the same templates/infra take over (open loop, scheduled).
    lo, hi = np.full(n, c.start_hour), np.full(n, c.end_hour)
    successor_of = np.arange(n)
    if "hydra" in strat:
        reps = max(int((c.end_hour - c.start_hour) // c.replacement_every_hours), 1)
        m = max(2, round(n / (1 + reps * c.replacement_share)))
        k = max(1, round(m * c.replacement_share))
        live = list(range(m))
        nxt = m
        for i in range(1, reps + 1):
            t = c.start_hour + i * c.replacement_every_hours
            if t >= c.end_hour or nxt >= n:
                break
            banned = rng.choice(len(live), size=min(k, len(live), n - nxt), replace=False)
            for j in sorted(banned.tolist(), reverse=True):
                old = live.pop(j)
                hi[old] = t
                lo[nxt] = t + rng.uniform(0.02, 0.3)
                successor_of[nxt] = successor_of[old]
                live.append(nxt)
                nxt += 1
        lo[nxt:] = c.end_hour  # never used (pool smaller than planned)
    # Creation: bursts of bulk sign-ups, some bought aged accounts; or brand new.
    bursts = b.start_ms - rng.uniform(2, 400, rng.integers(2, 6)) * _DAY_MS
    created = (rng.choice(bursts, n) + rng.uniform(0, 5_400_000, n)).astype(np.int64)
    aged = rng.random(n) < 0.4  # bought aged accounts (account markets)
    created[aged] = b.start_ms - b.ages_ms(int(aged.sum()))
    if "new_accounts_full_throughput" in strat or "hydra" in strat:
        fresh = lo * 3_600_000 + b.start_ms - rng.uniform(60_000, 3_600_000, n)
        take = np.ones(n, bool) if "new_accounts_full_throughput" in strat else lo > c.start_hour
        created[take] = fresh[take].astype(np.int64)
    pay = None
    if c.payment_instruments:
        shared = rng.random(n) < 0.6
        pay = np.where(
            shared, b.n_payments + rng.integers(0, c.payment_instruments, n),
            b.n_payments + c.payment_instruments + np.arange(n),
        )  # fmt: skip
        b.n_payments += c.payment_instruments + n
    # Tooling: one script, one to three client stacks (popular SDKs); mutation rotates UAs.
    if "template_mutation" in strat:
        stacks = b.pick(C.stack_weights("attack"), n)
    else:
        own = b.pick(C.stack_weights("attack"), int(rng.integers(1, 4)))
        stacks = rng.choice(own, n)[successor_of]
    tier_main = b.pick(C.role_weights(C.TIER_WEIGHTS, "attack"), 1)[0]
    tiers = np.where(rng.random(n) < 0.6, tier_main, b.pick(C.role_weights(
        C.TIER_WEIGHTS, "attack"), n))  # fmt: skip
    variant = (
        rng.integers(1, 1 << 30, n)[successor_of] if "template_mutation" in strat
        else np.full(n, int(rng.integers(0, 3)))
    )  # fmt: skip
    # One config for the whole script unless it randomises per account.
    camp_params = b.params("attack", 1)
    own_params = b.params("attack", n)
    use_own = rng.random(n) < (1.0 if "template_mutation" in strat else 0.3)
    params = {k: np.where(use_own, own_params[k], camp_params[k][0]) for k in camp_params}
    if "low_and_slow" in strat:
        volume = rng.lognormal(0.0, 0.7, n)
        rhythm, tz = R_DIURNAL, np.full(n, rng.choice([-6.0, 0.0, 1.0, 5.5]))
    else:
        volume = rng.lognormal(0.0, 0.35, n)
        rhythm = R_FLAT if rng.random() < 0.6 else R_WORKDAY
        tz = np.full(n, 8.0)
    live_hours = np.maximum(np.minimum(hi, c.end_hour) - lo, 0.0)
    expected = max(float((volume * live_hours).sum()), 1e-9)
    volume = volume * c.daily_events * (c.end_hour - c.start_hour) / 24.0 / expected * 24.0
    sweep = np.full(n, b.n_sweeps)
    b.n_sweeps += 1
    if "reseller" in strat:
        routers = [i for i, r in enumerate(b.a["router"]) if r is not None]
        account = routers[ci % len(routers)]
        users = hex_ids("u_", np.arange(n) + 1_000_000_000 * (ci + 1), b.seed * 7 + 5, 12)
        b.add_subjects(
            np.full(n, account), population="attack", kind=K_ATTACK, role="attack",
            rhythm=rhythm, volume=volume, tz=tz, endusers=list(users), campaign=ci,
            active=(lo, hi), sweep=sweep, variant=variant,
            params_from=params, balanced="load_balancing" in strat,
        )  # fmt: skip
        return
    proxy_kind = c.proxy
    home = b.networks(_PROXY_MIX[proxy_kind], n)
    accs = b.add_accounts(
        n, role="attack", nets=home, created_ms=created, stacks=stacks, tiers=tiers,
        payments=pay, ip_pool=np.full(n, c.proxy_ips), ip_base=np.full(n, 2_000_000 + ci * 10**5),
        proxy=ci,
    )  # fmt: skip
    b.add_subjects(
        accs, population="attack", kind=K_ATTACK, role="attack", rhythm=rhythm, volume=volume,
        tz=tz, campaign=ci, active=(lo, hi), sweep=sweep, variant=variant, params_from=params,
        balanced="load_balancing" in strat,
    )  # fmt: skip


def build_cast(scenario: Scenario, seed: int, pool_sizes: dict[str, int]) -> Cast:
    """Draw every account and subject of ``scenario`` (deterministic in ``seed``)."""
    rng = np.random.default_rng([seed, 1])
    b = _Builder(scenario, rng, seed)
    # Routers first, so reseller campaigns can attach to them.
    for pop in sorted(scenario.populations, key=lambda p: p.kind != "router"):
        _benign(b, pop, pool_sizes)
    proxy_nets = []
    pivots = []
    release_model, release_hour = -1, math.inf
    if scenario.releases:
        rel = scenario.releases[0]
        release_hour = rel.at_hour
        release_model = 3
    for ci, c in enumerate(scenario.campaigns):
        _campaign(b, ci, c)
        proxy_nets.append(C.mix(
            sum(w * C.network_weights(t) / max(C.network_weights(t).sum(), 1e-9)
                for w, t in zip(_PROXY_MIX[c.proxy], _IP_TYPES, strict=True)),
            np.ones(len(C.NETWORKS)), 0.0,
        ))  # fmt: skip
        pivot = math.inf
        if "model_pivot" in c.strategies and scenario.releases:
            # MiniMax "pivoted within 24 hours" of a release (THREAT.md).
            latest = min(20.0, max(scenario.hours - release_hour - 1.0, 1.0))
            pivot = release_hour + float(rng.uniform(min(1.0, latest), latest))
        pivots.append(pivot)
    accounts, subjects = b.freeze()
    ids = tuple(f"campaign-{i + 1:02d}" for i in range(len(scenario.campaigns)))
    models = (*C.MODELS[:3], *(r.model for r in scenario.releases[:1]))
    return Cast(accounts, subjects, ids, tuple(proxy_nets), tuple(pivots), models,
                release_model, release_hour)  # fmt: skip
