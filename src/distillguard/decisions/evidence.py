"""Evidence in plain words, with numbers, for every flagged subject and campaign.

Each text reads on its own in a report or an appeal response, e.g. "41 accounts
share payment fingerprint 9f3a1c…; 96% of their 120,400 requests follow 3
templates; together they covered 98% of mmlu with 0.4% overlap".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distillguard.decisions.score import WEIGHTS
from distillguard.records import Evidence

__all__ = ["campaign_evidence", "subject_evidence"]

_CONTENT_WORDS = {
    "dataset_share": "are items of public dataset {dataset}",
    "reasoning_share": "try to elicit step-by-step reasoning traces",
    "synthetic_share": "ask for synthetic training data",
    "grader_share": "use the model as a grader (rubric scores, preferences)",
    "rewrite_share": "ask for rewrites of sensitive text",
    "jailbreak_share": "wrap questions in jailbreak templates",
}


def _pct(x: Any) -> str:
    v = float(x or 0.0) * 100
    return f"{v:.1f}%" if 0 < v < 10 else f"{v:.0f}%"


def _n(x: Any) -> str:
    return f"{int(x or 0):,}"


def _short(key: Any) -> str:
    text = str(key)
    return text if len(text) <= 10 else text[:8] + "…"


def subject_evidence(row: Mapping[str, Any], campaign: Evidence | None) -> tuple[Evidence, ...]:
    """Evidence for one subject row of the scored subject frame, strongest first."""
    out: list[Evidence] = []
    events = row.get("events") or 0
    shares = {k: float(row.get(k) or 0.0) for k in _CONTENT_WORDS}
    top = max(shares, key=lambda k: shares[k])
    if shares[top] > 0:
        words = _CONTENT_WORDS[top].format(dataset=row.get("top_dataset") or "?")
        text = f"{_pct(shares[top])} of its {_n(events)} requests {words}"
        if top == "dataset_share" and row.get("top_dataset_items"):
            text += f" ({_n(row['top_dataset_items'])} distinct items"
            cov = row.get("top_dataset_coverage")
            text += f", {_pct(cov)} of the dataset)" if cov is not None else ")"
        out.append(
            Evidence("content", text, shares[top], WEIGHTS["content"] * float(row["content"]))
        )
    if (row.get("narrow") or 0) > 0.05:
        out.append(
            Evidence(
                "narrow",
                f"{_pct(row.get('template_top_share'))} of its {_n(events)} requests follow its "
                f"3 most used templates",
                float(row.get("template_top_share") or 0.0),
                WEIGHTS["narrow"] * float(row["narrow"]),
            )
        )
    if (row.get("automation") or 0) > 0.05:
        cv = row.get("iat_cv")
        out.append(
            Evidence(
                "automation",
                f"{_pct(row.get('single_turn_share'))} single-turn requests, hour-of-day entropy "
                f"{float(row.get('hour_entropy') or 0):.2f}"
                + (f", inter-arrival CV {float(cv):.2f}" if cv is not None else "")
                + f", up to {_n(row.get('peak_minute_events'))} requests in one minute",
                float(row["automation"]),
                WEIGHTS["automation"] * float(row["automation"]),
            )
        )
    if (row.get("new_full") or 0) > 0.05:
        out.append(
            Evidence(
                "new_full",
                f"new account: first request {float(row.get('age_hours_at_first') or 0):.1f} h "
                f"after creation, {_n(row.get('first_hours_events'))} requests in its first 6 h "
                f"({float(row.get('events_per_hour') or 0):.0f}/h overall)",
                float(row["new_full"]),
                WEIGHTS["new_full"] * float(row["new_full"]),
            )
        )
    if (row.get("rotation") or 0) > 0.05:
        out.append(
            Evidence(
                "rotation",
                f"{_n(row.get('non_vpn_ips'))} distinct client addresses outside VPN ranges "
                f"for {_n(events)} requests (a rotating proxy pool)",
                float(row["rotation"]),
                WEIGHTS["rotation"] * float(row["rotation"]),
            )
        )
    if row.get("pivoted"):
        out.append(
            Evidence(
                "pivot",
                f"moved to a newly released model {float(row.get('pivot_hours') or 0):.1f} h "
                "after its release",
                float(row.get("pivot_hours") or 0.0),
                0.0,
            )
        )
    if campaign is not None:
        out.append(
            Evidence(
                "coordination",
                campaign.text,
                campaign.value,
                WEIGHTS["coordination"] * float(row.get("coordination") or 0.0),
            )
        )
    return tuple(sorted(out, key=lambda e: -e.weight))


def campaign_evidence(
    row: Mapping[str, Any], campaign_id: str, *, members: int | None = None
) -> tuple[Evidence, ...]:
    """Evidence for one cluster row of the scored cluster frame, strongest first.

    ``members`` is the campaign's member count when it differs from the cluster's size.
    """
    size = int(members if members is not None else row.get("size") or 0)
    events = row.get("events") or 0
    items: list[tuple[float, Evidence]] = []

    def add(kind: str, strength: float, text: str, value: float | None = None) -> None:
        if strength > 0.02:
            items.append(
                (strength, Evidence(kind, text, value if value is not None else strength, strength))
            )

    pay = row.get("top_payment_members") or 0
    if pay and pay >= 2:
        add(
            "payment",
            float(row.get("density.payment") or 0.0) + 0.5,
            f"{pay} accounts share payment fingerprint {_short(row.get('top_payment'))}",
            float(pay),
        )
    add(
        "templates",
        float(row.get("template_concentration") or 0.0) * float(row.get("density.template") or 0.0),
        f"{_pct(row.get('template_concentration'))} of their {_n(events)} requests follow "
        "3 templates",
        float(row.get("template_concentration") or 0.0),
    )
    if row.get("dataset_items"):
        cov = row.get("dataset_coverage")
        reach = (
            f"{_pct(cov)} of {row.get('top_dataset')}"
            if cov is not None
            else (f"{_n(row.get('dataset_items'))} items of {row.get('top_dataset')}")
        )
        add(
            "coverage",
            float(row.get("density.coverage") or 0.0) + 0.1,
            f"together they covered {reach} with {_pct(row.get('dataset_redundancy'))} overlap",
            float(row.get("dataset_redundancy") or 0.0),
        )
    if row.get("split_evidence"):
        add(
            "split",
            float(row.get("split_evidence") or 0.0),
            f"they split public datasets between them: {_n(row.get('dataset_shared'))} member "
            f"pairs asked the same item where independent users would give "
            f"{float(row.get('dataset_expected_shared') or 0.0):.1f}",
            float(row.get("split_evidence") or 0.0),
        )
    if row.get("load_evenness"):
        add(
            "even_load",
            float(row.get("load_evenness") or 0.0),
            f"their request counts are spread as evenly as a load balancer's: variance "
            f"{float(row.get('load_dispersion') or 0.0):.2f} x the mean, where independent "
            "users give 1 or more",
            float(row.get("load_dispersion") or 0.0),
        )
    add(
        "synchrony",
        float(row.get("density.synchrony") or 0.0),
        f"{_pct(row.get('density.synchrony'))} of member pairs send the same templates in the "
        "same time buckets",
    )
    add(
        "creation",
        float(row.get("creation_burst") or 0.0) * float(row.get("density.creation") or 0.0),
        f"{_pct(row.get('creation_burst'))} of the accounts were created within one hour",
    )
    add(
        "throwaway",
        float(row.get("throwaway_share") or 0.0),
        f"{_n(row.get('throwaway_members'))} members are new accounts running at full rate "
        "from their first hours",
        float(row.get("throwaway_members") or 0.0),
    )
    add(
        "rotation",
        float(row.get("rotation_share") or 0.0) * 0.5,
        "members rotate through proxy pools (mean rotation "
        f"{float(row.get('rotation_share') or 0.0):.2f}: dozens of addresses per account a day)",
    )
    add(
        "succession",
        float(row.get("density.succession") or 0.0) * 4,
        "accounts start within hours of another member stopping (ban-and-replace)",
    )
    add(
        "pivot",
        float(row.get("pivot_share") or 0.0),
        f"{_pct(row.get('pivot_share'))} of members moved to a newly released model within 24 h",
    )
    add(
        "infrastructure",
        0.3 * max(float(row.get(f"density.{k}") or 0.0) for k in ("ip", "ip24", "tls")),
        f"{_pct(max(float(row.get(f'density.{k}') or 0.0) for k in ('ip', 'ip24', 'tls')))} "
        "of member pairs share IP addresses, /24 networks or rare TLS fingerprints",
    )
    for key, words in _CONTENT_WORDS.items():
        share = float(row.get(key) or 0.0)
        if share >= 0.2:
            add(
                "content",
                share * 0.5,
                f"{_pct(share)} of their requests "
                + words.format(dataset=row.get("top_dataset") or "?"),
                share,
            )
    items.sort(key=lambda t: -t[0])
    head = Evidence(
        "campaign",
        f"{campaign_id}: {size} coordinated subjects, cluster score "
        f"{float(row.get('cluster_score') or 0):.2f}"
        + ("; " + "; ".join(e.text for _, e in items[:3]) if items else ""),
        float(row.get("cluster_score") or 0.0),
        float(row.get("cluster_score") or 0.0),
    )
    return (head, *(e for _, e in items))
