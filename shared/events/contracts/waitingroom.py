"""Events of the virtual waiting room (services/waitingroom, docs/waitingroom.md).

`waitingroom.zones` is the zone log: every command (join, leave, renew, complete, admin
operations) and every decision of the admission controller (open, admit, expire, close) is one
`ZoneLogged` event keyed by zone, so a zone lives in one partition and its history is totally
ordered. The Kafka offset of a join is the visitor's queue number. Every replica reads the whole
topic and applies it to the same deterministic state machine; decisions are re-validated when
applied, so a stale or duplicate decision can never break capacity or max_active.

Retention: the log IS the state (no snapshots yet), so the topic is created with
`retention.ms=-1` and `cleanup.policy=delete`; compaction by zone key would drop history.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events.catalog import CATALOG, EventSpec

ZONE_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class _Op(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Join(_Op):
    kind: Literal["join"] = "join"
    user: str
    tier: str = "general"
    # A fresh random token id, used only if the zone lists the user as exempt.
    jti: str | None = None


class Leave(_Op):
    kind: Literal["leave"] = "leave"
    user: str


class Renew(_Op):
    kind: Literal["renew"] = "renew"
    user: str


class Complete(_Op):
    kind: Literal["complete"] = "complete"
    user: str
    jti: str


class Configure(_Op):
    """Create or update a zone (the whole configuration, validated by the service)."""

    kind: Literal["configure"] = "configure"
    config: dict[str, Any]


class Control(_Op):
    kind: Literal["control"] = "control"
    action: Literal["pause", "resume", "close", "reset"]


class AdmitByHand(_Op):
    kind: Literal["admit_by_hand"] = "admit_by_hand"
    n: int = Field(ge=1, le=100_000)


class Open(_Op):
    """Decision: the zone opens now; a lottery zone shuffles its pre-queue with `seed`."""

    kind: Literal["open"] = "open"
    seed: int


class Grant(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    user: str
    jti: str
    expires_at: float


class Admit(_Op):
    """Decision: these visitors get access tokens (each re-checked against the invariants)."""

    kind: Literal["admit"] = "admit"
    grants: list[Grant]
    by_hand: int = Field(default=0, ge=0)


class ExpirePlaces(_Op):
    """Decision: these places lapsed; `seen` is the last_seen the controller judged by."""

    kind: Literal["expire_places"] = "expire_places"
    places: list[tuple[str, float]]


class ExpireSessions(_Op):
    kind: Literal["expire_sessions"] = "expire_sessions"
    jtis: list[str]


Op = Annotated[
    Join
    | Leave
    | Renew
    | Complete
    | Configure
    | Control
    | AdmitByHand
    | Open
    | Admit
    | ExpirePlaces
    | ExpireSessions,
    Field(discriminator="kind"),
]


class ZoneLogged(BaseModel):
    """One entry of a zone's log. `at` is the writer's clock (seconds since the epoch)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    zone: str = Field(pattern=ZONE_PATTERN)
    at: float
    origin: str = Field(description="replica that wrote it (it waits for the outcome)")
    op: Op


class ZoneMetrics(BaseModel):
    """A zone's live summary, published by the partition owner every few seconds."""

    model_config = ConfigDict(frozen=True)

    zone: str
    status: str
    queue_length: int
    active: int
    completed: int
    admitted_per_minute: float
    median_wait_seconds: float | None
    p95_wait_seconds: float | None
    abandoned: int


ZONE_LOGGED = CATALOG.register(
    EventSpec(
        type="waitingroom.zone.logged.v1",
        topic="waitingroom.zones",
        payload=ZoneLogged,
        key=lambda e: e.zone,
        key_doc="zone id: one zone's commands and decisions stay in one partition, in order",
        description="A zone command or admission decision; every replica applies the whole log.",
    )
)

ZONE_METRICS = CATALOG.register(
    EventSpec(
        type="waitingroom.zone.metrics.v1",
        topic="waitingroom.metrics",
        payload=ZoneMetrics,
        key=lambda m: m.zone,
        key_doc="zone id",
        description="Periodic live summary of a zone (queue length, waits, admissions).",
    )
)
