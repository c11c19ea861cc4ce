"""Events of the push notifier (services/notifier, docs/notifier-protocol.md).

Any service asks for a notification by publishing `NotificationRequested` on `notifications`
(or through `POST /notifier/publish`). The notifier's `notifier` consumer group turns each one
into exactly one `Publication` on `notifier.publications`, the stream every replica reads
completely: its Kafka offset is the channel offset clients see.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events.catalog import CATALOG, EventSpec

CHANNEL_PATTERN = r"^[a-z][a-z0-9_-]{0,31}(:[A-Za-z0-9._@|=+-]{1,128})?$"


class WebPushRequest(BaseModel):
    """Whether and how to also deliver through Web Push (RFC 8030) to a `user:<id>` channel."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["never", "offline", "always"] = Field(
        default="never",
        description="offline: only when the user has no live WebSocket on any replica",
    )
    title: str = Field(default="", max_length=200)
    body: str = Field(default="", max_length=1000)
    url: str | None = Field(default=None, max_length=2000)
    ttl_seconds: int = Field(default=3600, ge=0, le=2_419_200)
    urgency: Literal["very-low", "low", "normal", "high"] = "normal"
    topic: str | None = Field(default=None, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")


class NotificationRequested(BaseModel):
    """Deliver `data` to every connection subscribed to `channel`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: str = Field(
        pattern=CHANNEL_PATTERN,
        description="user:<sub>, zone:<id>, job:<id>, broadcast, ...",
    )
    event: str = Field(min_length=1, max_length=64, description='Short name, e.g. "admitted"')
    data: dict[str, Any] = Field(default_factory=dict)
    webpush: WebPushRequest | None = None


class Publication(BaseModel):
    """One notification on the replicas' fan-out stream (offset = the record's Kafka offset)."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Id of the NotificationRequested event (clients may dedupe)")
    channel: str
    event: str
    data: dict[str, Any] = Field(default_factory=dict)


class PresenceChanged(BaseModel):
    """A replica's live connection count for one user (0 = gone from that replica)."""

    model_config = ConfigDict(frozen=True)

    replica: str
    user: str
    connections: int = Field(ge=0)


class ReplicaHeartbeat(BaseModel):
    """A replica is alive until `alive_until`; its presence records are ignored after that."""

    model_config = ConfigDict(frozen=True)

    replica: str
    alive_until: datetime
    stopping: bool = False


NOTIFICATION_REQUESTED = CATALOG.register(
    EventSpec(
        type="notifier.notification.requested.v1",
        topic="notifications",
        payload=NotificationRequested,
        key=lambda n: n.channel,
        key_doc="channel, so one channel's notifications stay in order",
        description="A service asks the notifier to push an event to a channel.",
    )
)

PUBLICATION = CATALOG.register(
    EventSpec(
        type="notifier.publication.v1",
        topic="notifier.publications",
        payload=Publication,
        key=lambda p: p.channel,
        key_doc="channel: one channel lives in one partition, so its offsets grow monotonically",
        description="Internal fan-out stream: every notifier replica reads all of it.",
    )
)

PRESENCE_CHANGED = CATALOG.register(
    EventSpec(
        type="notifier.presence.v1",
        topic="notifier.presence",
        payload=PresenceChanged,
        key=lambda p: f"{p.replica}:{p.user}",
        key_doc="replica:user (compaction keeps each replica's latest count per user)",
        description="Connections a replica holds for a user; every replica reads all of it.",
    )
)

REPLICA_HEARTBEAT = CATALOG.register(
    EventSpec(
        type="notifier.replica.heartbeat.v1",
        topic="notifier.presence",
        payload=ReplicaHeartbeat,
        key=lambda h: h.replica,
        key_doc="replica id",
        description="Liveness of a notifier replica, bounding how long its presence counts.",
    )
)
