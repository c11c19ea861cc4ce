"""Follow the zone log into the `Room`: at start it replays everything retained (that is how a
replica, and so a new partition owner, rebuilds state), then it keeps up with new records."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

from services.waitingroom.reader import LogReader
from services.waitingroom.room import Room
from services.waitingroom.tracing import record_context
from shared.bus.codec import DecodeError, decode
from shared.events.catalog import CATALOG
from shared.events.contracts.waitingroom import ZoneLogged

log = logging.getLogger("waitingroom.follower")


class Follower:
    def __init__(self, reader: LogReader, room: Room) -> None:
        self.reader, self.room = reader, room
        self.caught_up = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Task[None] | None = None

    async def start(self) -> None:
        bounds = await self.reader.start()
        self._task = asyncio.create_task(self._run(), name="waitingroom-follower")
        ends = {partition: end for (_, partition), (_, end) in bounds.items()}
        self._ready = asyncio.create_task(self._mark_caught_up(ends))

    async def stop(self) -> None:
        for task in (self._ready, self._task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self.reader.stop()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def catch_up(self, partitions: Collection[int], within: float = 30.0) -> bool:
        """Wait until every record written to `partitions` before now has been applied."""
        ends = {partition: end for (_, partition), end in (await self.reader.end_offsets()).items()}
        for partition in partitions:
            if not await self.room.wait_position(partition, ends.get(partition, 0), within):
                return False
        return True

    async def _mark_caught_up(self, ends: dict[int, int]) -> None:
        for partition, end in ends.items():
            await self.room.wait_position(partition, end, float("inf"))
        self.caught_up.set()

    async def _run(self) -> None:
        while True:
            try:
                records = await self.reader.fetch(200)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading the zone log failed; retrying")
                await asyncio.sleep(1.0)
                continue
            for record in records:
                try:
                    event = decode(record, CATALOG)
                except DecodeError as exc:
                    log.error("skipping an undecodable zone log record: %s", exc)
                    self.room.skip(record.partition, record.offset)
                    continue
                if isinstance(event.data, ZoneLogged):
                    cause = record_context(record)
                    self.room.apply(event.data, record.partition, record.offset, cause)
                else:
                    self.room.skip(record.partition, record.offset)
            if records:
                self.room.advanced()
