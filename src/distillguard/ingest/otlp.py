"""OTLP JSON trace exports: each span carrying ``gen_ai.*`` attributes becomes a record.

The OpenTelemetry collector's file exporter writes one ``ExportTraceServiceRequest``
per line (``{"resourceSpans": [...]}``); a single pretty-printed document is read
too. Spans without any ``gen_ai.`` attribute are not model calls and are not rows.
A span is flattened to::

    {"attributes": {...}, "resource": {...}, "trace_id", "span_id", "name",
     "start_time_unix_nano", "end_time_unix_nano"}

so a mapping can address ``attributes.gen_ai.request.model``. Without a mapping,
:func:`otlp_mapping` reads canonical names from the span and resource attributes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from distillguard import schema as S
from distillguard.ingest.mapping import FieldRule, Mapping

__all__ = ["is_otlp", "otlp_mapping", "spans"]


def is_otlp(head: bytes) -> bool:
    """Whether the first bytes of a JSON source look like an OTLP trace export."""
    return b'"resourceSpans"' in head[:65536] or b'"resource_spans"' in head[:65536]


def _any_value(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in value:
            return value[key]
    if "intValue" in value:  # OTLP JSON encodes int64 as text
        try:
            return int(value["intValue"])
        except (TypeError, ValueError):
            return value["intValue"]
    if "arrayValue" in value:
        return [_any_value(v) for v in (value["arrayValue"] or {}).get("values", []) or []]
    if "kvlistValue" in value:
        return _attributes((value["kvlistValue"] or {}).get("values"))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def _attributes(items: Any) -> dict[str, Any]:
    if not isinstance(items, list):
        return {}
    out: dict[str, Any] = {}
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            out[item["key"]] = _any_value(item.get("value"))
    return out


def _get(node: Any, *names: str) -> Any:
    """OTLP JSON uses lowerCamelCase; some exporters write snake_case. Accept both."""
    if isinstance(node, dict):
        for name in names:
            if name in node:
                return node[name]
    return None


def spans(document: Any) -> Iterator[dict[str, Any]]:
    """Flattened gen_ai spans of one ExportTraceServiceRequest (malformed parts skipped)."""
    for resource_spans in _get(document, "resourceSpans", "resource_spans") or []:
        resource = _attributes(_get(_get(resource_spans, "resource"), "attributes"))
        for scope_spans in _get(resource_spans, "scopeSpans", "scope_spans") or []:
            for span in _get(scope_spans, "spans") or []:
                if not isinstance(span, dict):
                    continue
                attributes = _attributes(span.get("attributes"))
                if not any(key.startswith("gen_ai.") for key in attributes):
                    continue
                yield {
                    "attributes": attributes,
                    "resource": resource,
                    "trace_id": _get(span, "traceId", "trace_id"),
                    "span_id": _get(span, "spanId", "span_id"),
                    "name": span.get("name"),
                    "start_time_unix_nano": _get(span, "startTimeUnixNano", "start_time_unix_nano"),
                    "end_time_unix_nano": _get(span, "endTimeUnixNano", "end_time_unix_nano"),
                }


def otlp_mapping() -> Mapping:
    """Canonical names read from span attributes, then resource attributes."""
    rules = []
    for f in S.FIELDS:
        if f.name in (S.EVENT_KEY, S.TURNS):
            continue
        paths: tuple[tuple[str, ...], ...] = (("attributes", f.name), ("resource", f.name))
        if f.name == S.TIMESTAMP:
            rules.append(FieldRule(f.name, (("start_time_unix_nano",),), unit="ns"))
            continue
        if f.name == S.REQUEST_ID:
            paths = (*paths, ("attributes", "gen_ai.response.id"))
        rules.append(FieldRule(f.name, paths))
    return Mapping(rules=tuple(rules), format="otlp", source="<otlp>")
