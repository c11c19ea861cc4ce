"""Program changes on the compacted topic `programs.changes`, and the follower that keeps the
L1 cache in step with it.

Every replica reads the whole topic, with no consumer group (`shared.bus.logreader`): at start
it replays what compaction kept, one latest record per program, which warms the cache; then
every change is applied the moment it arrives. Readiness waits for the replay.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from services.ingest.programs.cache import ProgramCache
from shared.bus.base import Bus
from shared.bus.codec import DecodeError, decode
from shared.bus.logreader import KafkaLogReader, MemoryLogReader, create_log_topic
from shared.bus.memory import MemoryBus
from shared.events.catalog import CATALOG
from shared.events.contracts.ingest import PROGRAM_CHANGED, Program, ProgramChanged
from shared.settings import PlatformSettings

log = logging.getLogger("ingest.programs")
# Compacted: the topic keeps each program's latest state forever (deletions included, as a
# record with no program), so a replica that starts rebuilds the whole cache from it.
COMPACTED = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}
Reader = KafkaLogReader | MemoryLogReader
Applied = Callable[[ProgramChanged, float], None]


async def publish_change(bus: Bus, program_id: str, version: int, program: Program | None) -> None:
    change = ProgramChanged(id=program_id, version=version, program=program)
    await bus.publish(PROGRAM_CHANGED, PROGRAM_CHANGED.new(change, source="ingest"))


async def open_reader(bus: Bus, platform: PlatformSettings, client_id: str) -> Reader:
    topic = PROGRAM_CHANGED.topic
    if isinstance(bus, MemoryBus):
        return MemoryLogReader(bus, [topic])
    await create_log_topic(platform, topic, client_id, COMPACTED)
    return KafkaLogReader(platform, [topic], client_id, max_records=5000)


class ChangeFollower:
    def __init__(self, reader: Reader, cache: ProgramCache, on_applied: Applied | None = None):
        self.reader, self.cache, self.on_applied = reader, cache, on_applied
        self.caught_up = asyncio.Event()
        self.applied = 0
        self._ends: dict[tuple[str, int], int] = {}
        self._positions: dict[tuple[str, int], int] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        bounds = await self.reader.start()
        self._ends = {where: end for where, (start, end) in bounds.items() if end > start}
        self._check_caught_up()
        self._task = asyncio.create_task(self._run(), name="ingest-program-changes")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.reader.stop()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def _check_caught_up(self) -> None:
        if all(self._positions.get(where, 0) >= end for where, end in self._ends.items()):
            self.caught_up.set()

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                records = await self.reader.fetch(500)
                delay = 0.1
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading %s failed; retrying in %.1fs", PROGRAM_CHANGED.topic, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            now = time.time()
            for record in records:
                self._positions[(record.topic, record.partition)] = record.offset + 1
                try:
                    event = decode(record, CATALOG)
                except DecodeError as exc:
                    log.error("skipping an undecodable program change: %s", exc)
                    continue
                change = event.data
                if not isinstance(change, ProgramChanged):
                    continue
                self.cache.apply(change.id, change.version, change.program)
                self.applied += 1
                if self.on_applied is not None:
                    self.on_applied(change, now)
            if not self.caught_up.is_set():
                self._check_caught_up()
