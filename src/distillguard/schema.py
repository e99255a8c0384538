"""The canonical event: one record per API request and its response.

Field names follow the OpenTelemetry GenAI semantic conventions where those
have a name; what OTel lacks lives under our own ``distillguard.`` namespace.
``docs/schema.md`` is generated from :data:`FIELDS` (``scripts/gen_schema_doc.py``).

Only :data:`REQUIRED` fields must be present. Every detector must cope with any
optional field being null.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl
import pyarrow as pa

__all__ = [
    "FIELDS",
    "REQUIRED",
    "Field",
    "IP_TYPES",
    "EVENT_SCHEMA",
    "field_names",
    # column-name constants, for code that reads events
    "TIMESTAMP",
    "EVENT_KEY",
    "REQUEST_ID",
    "ACCOUNT",
    "ORG",
    "API_KEY",
    "ACCOUNT_CREATED",
    "ACCOUNT_TIER",
    "PAYMENT",
    "MODEL",
    "MAX_TOKENS",
    "TEMPERATURE",
    "TOP_P",
    "SEED",
    "REASONING_LEVEL",
    "CHOICE_COUNT",
    "INPUT_TOKENS",
    "OUTPUT_TOKENS",
    "REASONING_TOKENS",
    "FINISH_REASONS",
    "CONVERSATION",
    "SYSTEM",
    "INPUT_MESSAGES",
    "OUTPUT_MESSAGES",
    "PROMPT",
    "TURNS",
    "CLIENT_ADDRESS",
    "USER_AGENT",
    "ENDUSER",
    "SESSION",
    "COUNTRY",
    "ASN",
    "AS_ORG",
    "IP_TYPE",
    "TLS_FINGERPRINT",
    "LOGPROBS",
    "TOP_LOGPROBS",
    "REFUSAL",
    "REASONING_TEXT",
    "ROUTER",
]

Kind = Literal["timestamp", "string", "int", "float", "bool", "strings"]

IP_TYPES = ("datacenter", "residential", "vpn", "unknown")

_ARROW: dict[str, pa.DataType] = {
    "timestamp": pa.timestamp("us", tz="UTC"),
    "string": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "strings": pa.list_(pa.string()),
}


@dataclass(frozen=True)
class Field:
    """One canonical field: its column name, type, and documentation."""

    name: str
    kind: Kind
    doc: str
    example: str
    required: bool = False
    derived: bool = False  # filled by ingest from other fields, never mapped directly
    otel: bool = False  # name comes from the OTel semantic conventions

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW[self.kind]


TIMESTAMP = "timestamp"
EVENT_KEY = "distillguard.event.key"
REQUEST_ID = "distillguard.request.id"
ACCOUNT = "distillguard.account.id"
ORG = "distillguard.org.id"
API_KEY = "distillguard.api_key.id"
ACCOUNT_CREATED = "distillguard.account.created_at"
ACCOUNT_TIER = "distillguard.account.tier"
PAYMENT = "distillguard.payment.fingerprint"
MODEL = "gen_ai.request.model"
MAX_TOKENS = "gen_ai.request.max_tokens"
TEMPERATURE = "gen_ai.request.temperature"
TOP_P = "gen_ai.request.top_p"
SEED = "gen_ai.request.seed"
REASONING_LEVEL = "gen_ai.request.reasoning.level"
CHOICE_COUNT = "gen_ai.request.choice.count"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
REASONING_TOKENS = "gen_ai.usage.reasoning.output_tokens"
FINISH_REASONS = "gen_ai.response.finish_reasons"
CONVERSATION = "gen_ai.conversation.id"
SYSTEM = "gen_ai.system_instructions"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
PROMPT = "distillguard.prompt.text"
TURNS = "distillguard.prompt.turns"
CLIENT_ADDRESS = "client.address"
USER_AGENT = "user_agent.original"
ENDUSER = "enduser.id"
SESSION = "session.id"
COUNTRY = "geo.country.iso_code"
ASN = "distillguard.network.asn"
AS_ORG = "distillguard.network.as_org"
IP_TYPE = "distillguard.network.ip_type"
TLS_FINGERPRINT = "distillguard.tls.fingerprint"
LOGPROBS = "distillguard.request.logprobs"
TOP_LOGPROBS = "distillguard.request.top_logprobs"
REFUSAL = "distillguard.response.refusal"
REASONING_TEXT = "distillguard.response.reasoning_text"
ROUTER = "distillguard.router.id"

FIELDS: tuple[Field, ...] = (
    Field(
        TIMESTAMP,
        "timestamp",
        "When the request arrived (event time, UTC).",
        "2026-03-01T12:00:00Z",
        required=True,
    ),
    Field(
        ACCOUNT,
        "string",
        "The billing account that sent the request (hashed).",
        "acct_9f3a1c",
        required=True,
    ),
    Field(
        PROMPT,
        "string",
        "Text of the last user turn; content parts joined. Required unless "
        "`gen_ai.input.messages` is given, from which ingest derives it.",
        "Solve step by step: 12*7",
        required=True,
    ),
    Field(
        EVENT_KEY,
        "string",
        "Deduplication key: the request id, or a content hash where there is none.",
        "req_01HX…",
        derived=True,
    ),
    Field(REQUEST_ID, "string", "The provider's request id.", "req_01HX2Z"),
    Field(ORG, "string", "Organisation owning the account (hashed).", "org_44ab"),
    Field(API_KEY, "string", "API key used (hashed).", "key_77c0"),
    Field(ACCOUNT_CREATED, "timestamp", "When the account was created.", "2026-02-27T09:14:00Z"),
    Field(ACCOUNT_TIER, "string", "Verification or billing tier of the account.", "tier-1"),
    Field(PAYMENT, "string", "Payment instrument fingerprint (hashed).", "pm_5e1d"),
    Field(MODEL, "string", "Model requested.", "frontier-2", otel=True),
    Field(MAX_TOKENS, "int", "max_tokens requested.", "4096", otel=True),
    Field(TEMPERATURE, "float", "Sampling temperature.", "0.7", otel=True),
    Field(TOP_P, "float", "Nucleus sampling top_p.", "1.0", otel=True),
    Field(SEED, "int", "Sampling seed.", "42", otel=True),
    Field(
        REASONING_LEVEL,
        "string",
        "Reasoning effort requested (low/medium/high/max).",
        "high",
        otel=True,
    ),
    Field(CHOICE_COUNT, "int", "Number of completions requested (n).", "1", otel=True),
    Field(INPUT_TOKENS, "int", "Prompt tokens billed.", "312", otel=True),
    Field(OUTPUT_TOKENS, "int", "Completion tokens billed.", "905", otel=True),
    Field(REASONING_TOKENS, "int", "Reasoning tokens billed.", "2048", otel=True),
    Field(FINISH_REASONS, "strings", "Why each choice stopped.", '["stop"]', otel=True),
    Field(CONVERSATION, "string", "Conversation (thread) id.", "conv_1a2b", otel=True),
    Field(
        SYSTEM, "string", "System instructions, as text.", "You are a helpful assistant.", otel=True
    ),
    Field(
        INPUT_MESSAGES,
        "string",
        "Input messages as OTel JSON (role, parts).",
        '[{"role":"user","content":"hi"}]',
        otel=True,
    ),
    Field(
        OUTPUT_MESSAGES,
        "string",
        "Output messages as OTel JSON.",
        '[{"role":"assistant","content":"hello"}]',
        otel=True,
    ),
    Field(TURNS, "int", "Number of user turns in the input messages.", "3", derived=True),
    Field(CLIENT_ADDRESS, "string", "Client IP address.", "203.0.113.7", otel=True),
    Field(USER_AGENT, "string", "HTTP User-Agent.", "OpenAI/Python 1.40.0", otel=True),
    Field(ENDUSER, "string", "End user passed through by a router or platform.", "u_83", otel=True),
    Field(SESSION, "string", "Client session id.", "sess_9", otel=True),
    Field(COUNTRY, "string", "ISO 3166-1 alpha-2 country of the client IP.", "DE", otel=True),
    Field(ASN, "int", "Autonomous system number of the client IP.", "16509"),
    Field(AS_ORG, "string", "Organisation of that AS.", "AMAZON-02"),
    Field(IP_TYPE, "string", "One of datacenter, residential, vpn, unknown.", "residential"),
    Field(
        TLS_FINGERPRINT, "string", "TLS client fingerprint (JA3 or JA4).", "t13d1516h2_8daaf6152771"
    ),
    Field(LOGPROBS, "bool", "Whether logprobs were requested.", "false"),
    Field(TOP_LOGPROBS, "int", "top_logprobs requested.", "5"),
    Field(REFUSAL, "bool", "Whether the response was a refusal.", "false"),
    Field(REASONING_TEXT, "string", "Reasoning text exposed to the caller, if any.", ""),
    Field(
        ROUTER,
        "string",
        "Router or platform that forwarded the request; the end user is `enduser.id`.",
        "openrouter",
    ),
)

REQUIRED: tuple[str, ...] = tuple(f.name for f in FIELDS if f.required)

EVENT_SCHEMA: pa.Schema = pa.schema([pa.field(f.name, f.arrow_type) for f in FIELDS])


def frame_schema(*names: str) -> dict[str, pl.DataType]:
    """Polars types of the named canonical columns, for building event frames in code."""
    empty = pl.DataFrame(EVENT_SCHEMA.empty_table().select(list(names)))
    return dict(empty.schema)


def field_names() -> tuple[str, ...]:
    return tuple(f.name for f in FIELDS)
