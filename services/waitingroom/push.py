"""Push, not polling: changes that matter to visitors become `NotificationRequested` events
for the notifier (channel `user:<sub>`, or `zone:<id>` for the whole zone).

Only the owner of a zone's partition pushes the notes its log produces, so each change is
pushed once (a failover may drop or repeat one; status queries stay exact). Publishing runs in
a background task fed by a bounded queue, so applying the log never waits on the bus.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable

from opentelemetry import context as otel_context

from services.waitingroom.state import Note, ZoneState
from services.waitingroom.tracing import note_context
from shared.bus.base import Bus
from shared.events.contracts.notifier import (
    CHANNEL_PATTERN,
    NOTIFICATION_REQUESTED,
    NotificationRequested,
    WebPushRequest,
)

log = logging.getLogger("waitingroom.push")
_CHANNEL = re.compile(CHANNEL_PATTERN)
QUEUE_SIZE = 100_000
BATCH = 500
_ADMITTED_PUSH = WebPushRequest(
    mode="offline", title="It's your turn", body="You can enter now.", urgency="high"
)


class Push:
    def __init__(self, bus: Bus, owns: Callable[[int], bool], source: str) -> None:
        self.bus, self.owns, self.source = bus, owns, source
        self.sent = self.dropped = 0
        self._queue: asyncio.Queue[tuple[NotificationRequested, Note, str]] = asyncio.Queue(
            QUEUE_SIZE
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="waitingroom-push")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def from_log(self, zone: ZoneState, notes: list[Note]) -> None:
        """Notes produced by applying the log: pushed by the partition owner only."""
        if self.owns(zone.partition):
            self.notes(zone, notes)

    def notes(self, zone: ZoneState, notes: list[Note]) -> None:
        zid = zone.config.id
        for note in notes:
            channel = f"user:{note.user}" if note.user is not None else f"zone:{zid}"
            if not _CHANNEL.match(channel):
                self.dropped += 1  # a user id the notifier cannot name a channel after
                continue
            request = NotificationRequested(
                channel=channel,
                event=f"waitingroom.{note.event}",
                data={"zone": zid, **note.data},
                webpush=_ADMITTED_PUSH if note.event == "admitted" else None,
            )
            try:
                self._queue.put_nowait((request, note, zid))
            except asyncio.QueueFull:
                self.dropped += 1

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < BATCH:
                batch.append(self._queue.get_nowait())
            # Concurrent publishes share producer batches (one broker round-trip for many).
            results = await asyncio.gather(*map(self._publish, batch), return_exceptions=True)
            for (request, _, _), result in zip(batch, results, strict=True):
                if isinstance(result, BaseException):
                    self.dropped += 1
                    log.error("could not publish a notification to %s: %s", request.channel, result)
                else:
                    self.sent += 1

    async def _publish(self, queued: tuple[NotificationRequested, Note, str]) -> None:
        request, note, zone = queued
        event = NOTIFICATION_REQUESTED.new(request, source=self.source)
        span, context = note_context(note, zone)  # the trace this notification continues
        token = otel_context.attach(context)
        try:
            await self.bus.publish(NOTIFICATION_REQUESTED, event)
        finally:
            otel_context.detach(token)
            if span is not None:
                span.end()
