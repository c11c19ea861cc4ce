"""The `notifier` consumer group on `notifications`: each NotificationRequested is handled once
(idempotency guard) by turning it into one Publication on `notifier.publications` (key =
channel), then, when it asks for Web Push, handing it to the Web Push sender.

Web Push goes to `user:<id>` channels only: mode `always` sends, `offline` sends when presence
shows no connection for the user on any replica, `never` (or no `webpush`) does not.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from shared.bus.base import Bus, Record
from shared.consumer.deferred import publish_deferred
from shared.events.contracts.notifier import (
    PUBLICATION,
    NotificationRequested,
    Publication,
    WebPushRequest,
)
from shared.events.envelope import CloudEvent

log = logging.getLogger("notifier.ingest")


class PushSender(Protocol):
    async def notify_user(
        self, user_id: str, payload: dict[str, Any], request: WebPushRequest
    ) -> int: ...


class Presence(Protocol):
    def connections(self, user: str) -> tuple[int, int]: ...


class Ingest:
    def __init__(self, bus: Bus, presence: Presence, on_ingested: Any = None) -> None:
        self.bus, self.presence = bus, presence
        self.webpush: PushSender | None = None
        self.on_ingested = on_ingested

    async def handle(self, event: CloudEvent[Any], _record: Record) -> None:
        note = event.data
        if not isinstance(note, NotificationRequested):
            return  # another event type on the topic: not ours
        pub = Publication(id=event.id, channel=note.channel, event=note.event, data=note.data)
        # Acknowledged together with the rest of the batch before the commit: one round-trip
        # per batch instead of one per notification.
        await publish_deferred(self.bus, PUBLICATION, PUBLICATION.new(pub, source="notifier"))
        if self.on_ingested is not None:
            self.on_ingested()
        await self._push(note, event.id)

    async def _push(self, note: NotificationRequested, event_id: str) -> None:
        request = note.webpush
        kind, _, user = note.channel.partition(":")
        if request is None or request.mode == "never" or kind != "user" or not user:
            return
        if request.mode == "offline" and self.presence.connections(user)[0] > 0:
            return
        if self.webpush is None:
            log.warning("Web Push requested for %s but Web Push is not configured", note.channel)
            return
        payload = {
            "id": event_id,
            "channel": note.channel,
            "event": note.event,
            "data": note.data,
            "title": request.title,
            "body": request.body,
            "url": request.url,
        }
        await self.webpush.notify_user(user, payload, request)
