"""Is user X connected on any replica?

Each replica publishes, on `notifier.presence`, its connection count for a user whenever it
changes (coalesced: a burst sends the latest count once; key `replica:user`, so a compacted
topic keeps the latest per pair), a heartbeat `alive_until` every
NOTIFIER_PRESENCE_HEARTBEAT_SECONDS, and `stopping` when it shuts down. Every replica reads
the whole topic (with the fan-out reader) and counts a user as present where a replica
reports connections and that replica is alive. A replica that dies without saying so stops
counting when its heartbeat lapses (3 intervals). Presence is eventually consistent, within
the bus latency (milliseconds) for changes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

from shared.bus.base import Bus, Record
from shared.bus.codec import DecodeError, decode
from shared.events.catalog import CATALOG
from shared.events.contracts.notifier import (
    PRESENCE_CHANGED,
    REPLICA_HEARTBEAT,
    PresenceChanged,
    ReplicaHeartbeat,
)

log = logging.getLogger("notifier.presence")
LAPSE = 3


class Presence:
    def __init__(self, bus: Bus, replica: str, heartbeat_seconds: float) -> None:
        self.bus, self.replica, self.interval = bus, replica, heartbeat_seconds
        self.local: dict[str, int] = {}
        self.remote: dict[str, dict[str, int]] = {}  # user -> replica -> connections
        self.alive: dict[str, float] = {}  # replica -> alive until (epoch seconds)
        self._pending: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def connections(self, user: str) -> tuple[int, int]:
        """(connections, replicas) for a user across live replicas, this one included."""
        now = time.time()
        count = self.local.get(user, 0)
        replicas = 1 if count else 0
        for replica, n in self.remote.get(user, {}).items():
            if n and self.alive.get(replica, 0.0) > now:
                count += n
                replicas += 1
        return count, replicas

    def changed(self, user: str, count: int) -> None:
        """The hub's callback. Changes are coalesced: the publisher sends the latest count."""
        if count:
            self.local[user] = count
        else:
            self.local.pop(user, None)
        self._pending[user] = count
        self._wake.set()

    def apply(self, record: Record) -> None:
        try:
            event = decode(record, CATALOG)
        except DecodeError as exc:
            log.error("skipping presence record: %s", exc)
            return
        data = event.data
        if isinstance(data, ReplicaHeartbeat) and data.replica != self.replica:
            until = 0.0 if data.stopping else data.alive_until.timestamp()
            self.alive[data.replica] = until
            if data.stopping:
                self._forget(data.replica)
        elif isinstance(data, PresenceChanged) and data.replica != self.replica:
            users = self.remote.setdefault(data.user, {})
            if data.connections:
                users[data.replica] = data.connections
            else:
                users.pop(data.replica, None)
                if not users:
                    del self.remote[data.user]

    def _forget(self, replica: str) -> None:
        for user in [u for u, replicas in self.remote.items() if replica in replicas]:
            del self.remote[user][replica]
            if not self.remote[user]:
                del self.remote[user]

    async def start(self) -> None:
        await self._heartbeat()
        self._task = asyncio.create_task(self._run(), name="notifier-presence")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            await self._heartbeat(stopping=True)
        except Exception:  # best effort: the heartbeat lapses anyway
            log.warning("could not announce this replica's stop", exc_info=True)

    async def _heartbeat(self, *, stopping: bool = False) -> None:
        until = datetime.now(UTC) + timedelta(seconds=self.interval * LAPSE)
        beat = ReplicaHeartbeat(replica=self.replica, alive_until=until, stopping=stopping)
        await self.bus.publish(REPLICA_HEARTBEAT, REPLICA_HEARTBEAT.new(beat, source="notifier"))
        for replica in [r for r, t in self.alive.items() if t <= time.time()]:
            self._forget(replica)
            del self.alive[replica]

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + self.interval
        while True:
            try:
                async with asyncio.timeout_at(next_beat):
                    await self._wake.wait()
            except TimeoutError:
                pass
            try:
                if loop.time() >= next_beat:
                    next_beat = loop.time() + self.interval
                    await self._heartbeat()
                await self._flush()
            except Exception:
                log.exception("publishing presence failed; retrying")
                await asyncio.sleep(1.0)

    async def _flush(self) -> None:
        self._wake.clear()
        pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            await self._publish(pending)
        except Exception:
            for user, count in pending.items():  # retried unless a newer count came meanwhile
                self._pending.setdefault(user, count)
            raise

    async def _publish(self, pending: dict[str, int]) -> None:
        await asyncio.gather(
            *(
                self.bus.publish(
                    PRESENCE_CHANGED,
                    PRESENCE_CHANGED.new(
                        PresenceChanged(replica=self.replica, user=user, connections=count),
                        source="notifier",
                    ),
                )
                for user, count in pending.items()
            )
        )
