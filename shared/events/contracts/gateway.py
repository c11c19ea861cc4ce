"""Events the API gateway publishes."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.events.catalog import CATALOG, EventSpec


class UsageReported(BaseModel):
    """Usage of one API key on one route during one metering interval (deltas, not totals;
    the gateway's `usage` collection holds the running totals per key, route and UTC day)."""

    model_config = ConfigDict(frozen=True)

    key_id: str = Field(description="API key id (public part of the key)")
    route_id: str = Field(description="Gateway route id")
    day: date = Field(description="UTC day the requests were counted in")
    requests: int = Field(ge=0, description="Requests seen, including throttled ones")
    throttled: int = Field(ge=0, description="Requests refused with 429")
    quota_used: int = Field(ge=0, description="Requests counted against the key's quotas")
    interval_start: datetime
    interval_end: datetime


USAGE_REPORTED = CATALOG.register(
    EventSpec(
        type="gateway.usage.v1",
        topic="gateway.usage",
        payload=UsageReported,
        key=lambda usage: usage.key_id,
        key_doc="key_id (the API key id), so one key's reports stay in order",
        description="Per-key, per-route usage counted by the gateway since its previous report.",
    )
)
