"""Value tables for raw request metadata, shared by benign and attack populations.

Every population draws from the SAME tables with different, overlapping weights
(no giveaways: real attackers use the popular SDKs, and many benign apps run in
clouds or behind VPNs). ``docs/distillbench.md`` documents which population
uses which values; ``tests/bench/test_no_giveaway.py`` checks that no single raw
field separates attack from benign subjects.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CLIENT_STACKS",
    "COUNTRIES",
    "MAX_TOKENS",
    "MODELS",
    "NETWORKS",
    "REASONING_LEVELS",
    "ROLES",
    "TEMPERATURES",
    "TIERS",
    "ClientStack",
    "Network",
    "ip_address",
    "mix",
    "network_weights",
    "role_weights",
]

# Roles pick a weight column in the tables below. Populations map onto roles in
# subjects.py; campaigns use "attack".
ROLES = ("chat", "app", "batch", "eval", "research", "attack")


def mix(role_w: np.ndarray, base_w: np.ndarray, overlap: float = 0.5) -> np.ndarray:
    """Blend a role's preferences with the all-population base so supports overlap."""
    a = role_w / role_w.sum()
    b = base_w / base_w.sum()
    out = overlap * b + (1.0 - overlap) * a
    return out / out.sum()


def _tls(family: str) -> str:
    # JA4-shaped strings; stable per client family, never real fingerprints.
    h = hashlib.blake2b(family.encode(), digest_size=12).hexdigest()
    return f"t13d{len(family) % 9 + 10}{len(family) % 7 + 8}h2_{h[:12]}_{h[12:24]}"


@dataclass(frozen=True)
class ClientStack:
    """A user agent and the TLS fingerprint its HTTP library produces."""

    user_agent: str
    tls: str
    # weights per role: chat, app, batch, eval, research, attack
    weights: tuple[float, float, float, float, float, float]


_CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
CLIENT_STACKS: tuple[ClientStack, ...] = (
    ClientStack("OpenAI/Python 1.54.3", _tls("python-httpx"), (6, 18, 14, 14, 14, 18)),
    ClientStack("OpenAI/Python 1.59.6", _tls("python-httpx"), (5, 14, 10, 12, 12, 14)),
    ClientStack("OpenAI/Python 1.40.0", _tls("python-httpx"), (3, 8, 12, 6, 5, 8)),
    ClientStack("Anthropic/Python 0.39.0", _tls("python-httpx"), (4, 10, 8, 10, 12, 10)),
    ClientStack("python-httpx/0.27.2", _tls("python-httpx"), (2, 6, 6, 6, 6, 8)),
    ClientStack("python-requests/2.32.3", _tls("python-urllib3"), (2, 6, 12, 8, 8, 8)),
    ClientStack("OpenAI/JS 4.73.0", _tls("node"), (5, 12, 6, 2, 2, 8)),
    ClientStack("Anthropic/JS 0.32.1", _tls("node"), (3, 8, 4, 1, 2, 5)),
    ClientStack("axios/1.7.7", _tls("node"), (1, 5, 6, 1, 1, 4)),
    ClientStack("Go-http-client/2.0", _tls("go"), (1, 4, 8, 1, 1, 4)),
    ClientStack("curl/8.5.0", _tls("curl"), (2, 2, 3, 2, 6, 3)),
    ClientStack("litellm/1.52.0", _tls("python-httpx"), (2, 6, 4, 6, 4, 6)),
    ClientStack("okhttp/4.12.0", _tls("okhttp"), (6, 3, 1, 0.2, 0.5, 1)),
    ClientStack(_CHROME + "Chrome/131.0.0.0 Safari/537.36", _tls("chrome"), (24, 2, 1, 2, 10, 4)),
    ClientStack(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        _tls("safari"),
        (18, 1, 0.5, 2, 8, 2),
    ),
    ClientStack(
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        _tls("firefox"),
        (8, 1, 0.5, 2, 6, 2),
    ),
)


@dataclass(frozen=True)
class Network:
    """An autonomous system clients connect from."""

    asn: int
    as_org: str
    ip_type: str
    country: str
    weight: float  # popularity within its ip_type


NETWORKS: tuple[Network, ...] = (
    # residential / mobile ISPs
    Network(7922, "COMCAST-7922", "residential", "US", 10),
    Network(7018, "ATT-INTERNET4", "residential", "US", 8),
    Network(701, "UUNET", "residential", "US", 5),
    Network(20115, "CHARTER-20115", "residential", "US", 6),
    Network(21928, "T-MOBILE-AS21928", "residential", "US", 5),
    Network(812, "ROGERS-COMMUNICATIONS", "residential", "CA", 3),
    Network(3320, "DTAG", "residential", "DE", 5),
    Network(2856, "BT-UK-AS", "residential", "GB", 4),
    Network(3215, "Orange", "residential", "FR", 4),
    Network(3352, "TELEFONICA_DE_ESPANA", "residential", "ES", 2),
    Network(1136, "KPN", "residential", "NL", 2),
    Network(5617, "TPNET", "residential", "PL", 2),
    Network(55836, "RELIANCEJIO-IN", "residential", "IN", 8),
    Network(45609, "BHARTI-MOBILITY-AS-AP", "residential", "IN", 5),
    Network(26599, "TELEFONICA BRASIL", "residential", "BR", 4),
    Network(28573, "Claro NXT Telecomunicacoes Ltda", "residential", "BR", 3),
    Network(8151, "UNINET", "residential", "MX", 2),
    Network(4713, "OCN NTT Communications Corporation", "residential", "JP", 4),
    Network(2516, "KDDI KDDI CORPORATION", "residential", "JP", 3),
    Network(4766, "Korea Telecom", "residential", "KR", 3),
    Network(9318, "SK Broadband Co Ltd", "residential", "KR", 2),
    Network(1221, "ASN-TELSTRA", "residential", "AU", 2),
    Network(7713, "TELKOMNET-AS-AP", "residential", "ID", 2),
    Network(45899, "VNPT-AS-VN", "residential", "VN", 2),
    Network(9121, "TTNET", "residential", "TR", 2),
    Network(4760, "HKTIMS-AP HKT Limited", "residential", "HK", 1),
    Network(9506, "SINGTEL-FIBRE", "residential", "SG", 1),
    Network(4134, "CHINANET-BACKBONE", "residential", "CN", 0.3),
    # clouds and hosting: benign apps run here, some attackers too
    Network(16509, "AMAZON-02", "datacenter", "US", 20),
    Network(14618, "AMAZON-AES", "datacenter", "US", 10),
    Network(8075, "MICROSOFT-CORP-MSN-AS-BLOCK", "datacenter", "US", 12),
    Network(396982, "GOOGLE-CLOUD-PLATFORM", "datacenter", "US", 10),
    Network(15169, "GOOGLE", "datacenter", "US", 3),
    Network(14061, "DIGITALOCEAN-ASN", "datacenter", "US", 5),
    Network(24940, "Hetzner Online GmbH", "datacenter", "DE", 5),
    Network(16276, "OVH SAS", "datacenter", "FR", 4),
    Network(63949, "Akamai Connected Cloud", "datacenter", "US", 3),
    Network(20473, "AS-CHOOPA", "datacenter", "US", 3),
    Network(31898, "ORACLE-BMC-31898", "datacenter", "US", 2),
    Network(45102, "ALIBABA-CN-NET", "datacenter", "SG", 2),
    Network(132203, "TENCENT-NET-AP-CN", "datacenter", "SG", 1.5),
    Network(13335, "CLOUDFLARENET", "datacenter", "US", 2),
    # commercial VPN exits
    Network(9009, "M247 Europe SRL", "vpn", "GB", 5),
    Network(60068, "Datacamp Limited", "vpn", "US", 4),
    Network(212238, "Datacamp Limited", "vpn", "DE", 3),
    Network(136787, "TEFINCOM S.A.", "vpn", "NL", 3),
    Network(209854, "Cyberzone S.A.", "vpn", "JP", 2),
    # universities and enterprises (own AS or a corporate proxy): shared NAT
    Network(786, "JANET Jisc Services Limited", "unknown", "GB", 2),
    Network(680, "DFN Verein zur Foerderung eines Deutschen Forschungsnetzes", "unknown", "DE",
            2),
    Network(25, "UCB", "unknown", "US", 1),
    Network(3, "MIT-GATEWAYS", "unknown", "US", 1),
    Network(2200, "Renater", "unknown", "FR", 1),
    Network(53813, "ZSCALER-INC", "unknown", "US", 3),
    Network(2914, "NTT-LTD-2914", "unknown", "JP", 1),
)  # fmt: skip


# country -> (benign weight, UTC offset hours used for daily rhythms)
COUNTRIES: dict[str, tuple[float, float]] = {
    "US": (28, -6), "CA": (3, -5), "DE": (6, 1), "GB": (6, 0), "FR": (4, 1), "ES": (2, 1),
    "NL": (2, 1), "PL": (2, 1), "IN": (12, 5.5), "BR": (6, -3), "MX": (2, -6), "JP": (5, 9),
    "KR": (4, 9), "AU": (2, 10), "ID": (2, 7), "VN": (2, 7), "TR": (2, 3), "HK": (1, 8),
    "SG": (1, 8), "CN": (0.5, 8),
}  # fmt: skip

# Models. frontier-3 appears only through a scenario release event.
MODELS: tuple[str, ...] = ("frontier-2", "frontier-2-mini", "frontier-2-reasoning", "frontier-3")
# weights per role for the three pre-release models
MODEL_WEIGHTS: dict[str, tuple[float, float, float]] = {
    "chat": (5, 3, 2), "app": (3, 6, 1), "batch": (2, 7, 1), "eval": (4, 2, 4),
    "research": (4, 1, 5), "attack": (4, 2, 4),
}  # fmt: skip

MAX_TOKENS: tuple[int, ...] = (-1, 256, 512, 1024, 2048, 4096, 8192, 16384, 32000)  # -1: null
MAX_TOKENS_WEIGHTS: dict[str, tuple[float, ...]] = {
    "chat": (6, 0.5, 1, 2, 3, 5, 3, 1, 1),
    "app": (3, 3, 4, 5, 4, 3, 1, 0.5, 0.3),
    "batch": (1, 4, 5, 4, 2, 1, 0.5, 0.2, 0.1),
    "eval": (2, 2, 2, 3, 4, 3, 2, 1, 1),
    "research": (2, 0.2, 0.5, 1, 2, 4, 4, 3, 2),
    "attack": (3, 0.3, 1, 2, 3, 5, 4, 2, 1.5),
}
TEMPERATURES: tuple[float, ...] = (-1.0, 0.0, 0.2, 0.5, 0.7, 1.0)  # -1: null
TEMPERATURE_WEIGHTS: dict[str, tuple[float, ...]] = {
    "chat": (6, 0.3, 0.3, 1, 3, 3), "app": (3, 3, 3, 2, 3, 1), "batch": (1, 6, 3, 1, 1, 0.5),
    "eval": (1, 8, 0.5, 0.5, 1, 1), "research": (3, 3, 1, 1, 2, 2),
    "attack": (4, 3, 1, 1, 3, 3),
}  # fmt: skip
REASONING_LEVELS: tuple[str, ...] = ("", "low", "medium", "high", "max")  # "": null
REASONING_WEIGHTS: dict[str, tuple[float, ...]] = {
    "chat": (6, 1, 2, 1.5, 0.3), "app": (7, 2, 1, 0.5, 0.1), "batch": (8, 1.5, 0.5, 0.2, 0.1),
    "eval": (4, 1, 2, 2, 1), "research": (3, 0.5, 2, 3, 1.5), "attack": (4, 0.5, 2, 2.5, 1),
}  # fmt: skip
TIERS: tuple[str, ...] = ("free", "tier-1", "tier-2", "tier-3", "tier-4", "tier-5", "enterprise")
TIER_WEIGHTS: dict[str, tuple[float, ...]] = {
    "chat": (5, 3, 1.5, 0.7, 0.3, 0.1, 0.2), "app": (1, 3, 3, 2, 1, 0.5, 0.5),
    "batch": (0, 0.2, 0.5, 1, 2, 3, 4), "eval": (0.5, 1, 2, 2, 2, 1, 1),
    "research": (1, 2, 2, 2, 1, 0.5, 1), "attack": (1.5, 3, 3, 2, 1, 0.3, 0.1),
}  # fmt: skip
# choice count n: 1, 2, 4
CHOICE_COUNTS: tuple[int, ...] = (1, 2, 4)
CHOICE_WEIGHTS: dict[str, tuple[float, ...]] = {
    "chat": (98, 1.5, 0.5), "app": (90, 7, 3), "batch": (95, 4, 1), "eval": (80, 10, 10),
    "research": (88, 8, 4), "attack": (88, 8, 4),
}  # fmt: skip
# share of subjects requesting logprobs
LOGPROBS_SHARE: dict[str, float] = {
    "chat": 0.01, "app": 0.06, "batch": 0.05, "eval": 0.25, "research": 0.12, "attack": 0.08,
}  # fmt: skip


def role_weights(
    table: dict[str, tuple[float, ...]], role: str, overlap: float = 0.4
) -> np.ndarray:
    """Weights for ``role`` blended with the mean of all roles (overlapping supports)."""
    base = np.mean([np.asarray(v, dtype=float) for v in table.values()], axis=0)
    return mix(np.asarray(table[role], dtype=float), base, overlap)


def stack_weights(role: str, overlap: float = 0.4) -> np.ndarray:
    ri = ROLES.index(role)
    role_w = np.array([s.weights[ri] for s in CLIENT_STACKS], dtype=float)
    base = np.array([sum(s.weights) for s in CLIENT_STACKS], dtype=float)
    return mix(role_w, base, overlap)


def network_weights(ip_type: str) -> np.ndarray:
    """Popularity of each network within one ip_type (zero elsewhere)."""
    return np.array([n.weight if n.ip_type == ip_type else 0.0 for n in NETWORKS], dtype=float)


_BLOCKED_FIRST_OCTETS = {0, 10, 100, 127, 169, 172, 192, 198, 203, 224}


def ip_address(network_index: np.ndarray, host: np.ndarray) -> list[str]:
    """Synthetic IPv4 addresses: two /16s per network, ``host`` picks the address."""
    asn = np.array([n.asn for n in NETWORKS], dtype=np.uint64)[network_index]
    h = (asn * np.uint64(2654435761) + (host.astype(np.uint64) >> np.uint64(16))) % np.uint64(
        1 << 30
    )
    first = (h % np.uint64(213) + np.uint64(11)).astype(np.int64)
    first = np.where(np.isin(first, list(_BLOCKED_FIRST_OCTETS)), first + 1, first)
    second = ((h >> np.uint64(8)) % np.uint64(256)).astype(np.int64)
    low = (host.astype(np.int64) & 0xFFFF) + (asn.astype(np.int64) * 40503 & 0xFF)
    third, fourth = (low >> 8) & 0xFF, np.maximum(low & 0xFF, 1)
    return [f"{a}.{b}.{c}.{d}" for a, b, c, d in zip(first, second, third, fourth, strict=True)]
