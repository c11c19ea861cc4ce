"""Events of the tracking ingest (services/ingest, docs/ingest.md).

- `tracking.events`: every accepted hit, enriched at the edge, as a protobuf `TrackingEvent`
  (schema: shared/events/proto/tracking.proto), keyed by program.
- `tracking.events.bad`: every rejected hit with its reason and the raw request (JSON), so
  nothing a client sent disappears without trace.
- `tracking.attributions`: a conversion matched to the click that caused it.
- `programs.changes`: the program core data, one record per change keyed by program id, on a
  compacted topic every ingest replica reads whole (its L1 cache is kept fresh by push).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from shared.events.catalog import CATALOG, EventSpec
from shared.events.proto.tracking_pb2 import TrackingEvent
from shared.events.protobuf import PROTO_SPECS, ProtoSpec

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_.-]{0,63}$"
DOMAIN_PATTERN = (
    r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
)


class Privacy(BaseModel):
    """What the program may keep about a visitor (Sec-GPC / DNT always win)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    full_ip: bool = Field(
        default=False,
        description="keep the whole client address; otherwise it is cut to /24 (IPv4) or /48",
    )
    identifier: bool = Field(
        default=True,
        description="set and store the first-party identifier cookie (never under GPC/DNT)",
    )


class ProgramSpec(BaseModel):
    """A tracking program as the admin API takes it (`PUT /ingest/admin/programs/{id}`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    advertiser: str = Field(pattern=ID_PATTERN, description="the advertiser owning the program")
    name: str = Field(default="", max_length=200)
    active: bool = Field(default=True, description="false pauses the program at once")
    starts_at: AwareDatetime | None = Field(default=None, description="hits before are refused")
    ends_at: AwareDatetime | None = Field(default=None, description="hits from then are refused")
    event_types: list[str] = Field(
        default_factory=lambda: ["impression", "click", "conversion"],
        min_length=1,
        max_length=50,
        description="event types the program accepts (a click through /t/r is `click`)",
    )
    required_params: dict[str, list[str]] = Field(
        default_factory=dict,
        description="per event type, the parameters a hit must carry, e.g. "
        '{"conversion": ["order_id", "value"]}',
    )
    redirect_domains: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="hosts a click may redirect to: `shop.example` (that host and its "
        "subdomains) or `*.example`; empty = no redirect allowed",
    )
    click_id_param: str = Field(
        default="sclid",
        pattern=r"^[A-Za-z0-9_-]{0,32}$",
        description="query parameter carrying the click id to the landing page (empty: none)",
    )
    attribution_window_seconds: int = Field(
        default=7 * 86400,
        ge=60,
        le=90 * 86400,
        description="how long after a click a conversion is attributed to it",
    )
    privacy: Privacy = Privacy()

    @field_validator("event_types")
    @classmethod
    def _event_types(cls, value: list[str]) -> list[str]:
        for item in value:
            if not re.match(EVENT_TYPE_PATTERN, item):
                raise ValueError(f"event type {item!r} must match {EVENT_TYPE_PATTERN}")
        return sorted(set(value))

    @field_validator("redirect_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        cleaned = [item.strip().lower().rstrip(".") for item in value]
        for item in cleaned:
            if not re.match(DOMAIN_PATTERN, item):
                raise ValueError(f"{item!r} is not a host name (or *.domain)")
        return cleaned

    @field_validator("required_params")
    @classmethod
    def _required(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for params in value.values():
            if len(params) > 50 or any(not 0 < len(p) <= 64 for p in params):
                raise ValueError("at most 50 required parameters of 1-64 characters each")
        return value


class Program(ProgramSpec):
    """A stored program: the spec plus its id and version (a new version per change)."""

    id: str = Field(pattern=ID_PATTERN)
    version: int = Field(ge=1, description="grows with every change (nanoseconds since epoch)")
    updated_at: datetime


class ProgramChanged(BaseModel):
    """The current state of one program (`program` null: deleted). Compaction keeps the last."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    version: int = Field(ge=1)
    program: Program | None = None


class RawRequest(BaseModel):
    """What the client sent, as received (cookies and credentials left out)."""

    model_config = ConfigDict(frozen=True)

    method: str
    path: str
    query: list[dict[str, str]] = Field(default_factory=list, description="[{k, v}]")
    headers: list[dict[str, str]] = Field(
        default_factory=list, description="[{k, v}]: user-agent, referer, content-type, GPC/DNT"
    )
    body: str | None = Field(default=None, description="the rejected item (batch), as JSON text")
    ip: str = Field(default="", description="client address, truncated as events are")


class BadRow(BaseModel):
    """A hit that is not an event: unknown or inactive program, type not allowed, missing
    parameters, redirect target refused, malformed item."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="UUIDv7 of this bad row")
    program: str = Field(description="the program the hit named ('' when none)")
    reason: str = Field(description="machine-readable reason, e.g. unknown_program")
    detail: str
    errors: list[dict[str, str]] = Field(default_factory=list, description="[{field, message}]")
    channel: Literal["pixel", "redirect", "batch"]
    received_at: datetime
    request: RawRequest


class Attribution(BaseModel):
    """A conversion attributed to the last click before it (by click id, else identifier)."""

    model_config = ConfigDict(frozen=True)

    program: str
    conversion_id: str
    click_id: str
    matched_by: Literal["click_id", "identifier"]
    identifier: str = ""
    clicked_at: datetime
    converted_at: datetime
    seconds_to_convert: float = Field(ge=0)


TRACKING_EVENT = PROTO_SPECS.register(
    ProtoSpec(
        type="tracking.event.v1",
        topic="tracking.events",
        message=TrackingEvent,
        schema_file="shared/events/proto/tracking.proto",
        key_doc="program id: one program's events stay in order on one partition",
        description="An accepted hit (pixel, click, batch event), enriched at the edge.",
    )
)

BAD_ROW = CATALOG.register(
    EventSpec(
        type="tracking.bad_row.v1",
        topic="tracking.events.bad",
        payload=BadRow,
        key=lambda row: row.program or "-",
        key_doc="program id named by the hit ('-' when none)",
        description="A rejected hit with its reason and the raw request.",
    )
)

ATTRIBUTED = CATALOG.register(
    EventSpec(
        type="tracking.attribution.v1",
        topic="tracking.attributions",
        payload=Attribution,
        key=lambda a: a.program,
        key_doc="program id",
        description="A conversion matched to the click that caused it (last click).",
    )
)

PROGRAM_CHANGED = CATALOG.register(
    EventSpec(
        type="tracking.program.changed.v1",
        topic="programs.changes",
        payload=ProgramChanged,
        key=lambda c: c.id,
        key_doc="program id (compaction keeps each program's latest state)",
        description="A program was created, changed or deleted; every ingest replica reads all.",
    )
)
