"""What the player and other services hear: every state change on the player's channel
`user:<id>` (the notifier pushes it over the WebSocket), the outcome also by Web Push (the
seed's choice: important, not urgent: `Urgency: low`, `Topic: avatar` so a newer result replaces
an undelivered older one, a TTL), and `avatars.moderated` on the bus.

Event ids are deterministic (`avatars-<upload>-<state>`): a worker killed after publishing and
before recording the state publishes the same ids again, and the notifier's idempotency guard
and any consumer of `avatars.moderated` drop the repeat, so the player hears each change once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.bus.base import Bus
from shared.events.contracts.avatars import AVATAR_MODERATED, AvatarModerated, Label
from shared.events.contracts.notifier import (
    NOTIFICATION_REQUESTED,
    NotificationRequested,
    WebPushRequest,
)
from shared.events.envelope import CloudEvent

SOURCE = "avatars"
EVENT = "avatars.upload"
PAGE = "/avatars/"
OUTCOME_TEXT = {
    "published": ("Your new avatar is live", "Players now see your new avatar."),
    "rejected": ("Your avatar was not accepted", "It does not follow the content rules: {reason}"),
    "failed": ("Your avatar could not be processed", "{reason}"),
    "in_review": ("Your avatar is being reviewed", "A moderator will look at it shortly."),
}


class Announcer:
    def __init__(self, bus: Bus, webpush_ttl_seconds: int) -> None:
        self.bus, self.ttl = bus, webpush_ttl_seconds

    async def state(self, doc: dict[str, Any], state: str, reason: str = "") -> None:
        """Tell the player about `state`; outcomes (and review) also by Web Push."""
        data: dict[str, Any] = {"upload_id": doc["_id"], "state": state, "reason": reason}
        if state == "published":
            data["version"] = doc["_id"]
            data["urls"] = doc.get("urls", {})
        webpush = None
        if state in OUTCOME_TEXT:
            title, body = OUTCOME_TEXT[state]
            webpush = WebPushRequest(
                mode="always",
                title=title,
                body=body.format(reason=reason or "no reason given")[:1000],
                url=PAGE,
                ttl_seconds=self.ttl,
                urgency="low",
                topic="avatar",
            )
        note = NotificationRequested(
            channel=f"user:{doc['user']}", event=EVENT, data=data, webpush=webpush
        )
        event = CloudEvent[NotificationRequested](
            id=f"avatars-{doc['_id']}-{state}",
            source=SOURCE,
            type=NOTIFICATION_REQUESTED.type,
            subject=doc["_id"],
            data=note,
        )
        await self.bus.publish(NOTIFICATION_REQUESTED, event)

    async def outcome(self, doc: dict[str, Any], outcome: str, reason: str = "") -> None:
        moderated = AvatarModerated(
            upload_id=doc["_id"],
            user=doc["user"],
            outcome=outcome,  # type: ignore[arg-type]
            version=doc["_id"] if outcome == "published" else None,
            reason=reason,
            labels=[Label(**label) for label in doc.get("labels") or []],
            urls=doc.get("urls", {}) if outcome == "published" else {},
            decided_at=datetime.now(UTC),
        )
        event = CloudEvent[AvatarModerated](
            id=f"avatars-{doc['_id']}-{outcome}-outcome",
            source=SOURCE,
            type=AVATAR_MODERATED.type,
            subject=doc["_id"],
            data=moderated,
        )
        await self.bus.publish(AVATAR_MODERATED, event)
