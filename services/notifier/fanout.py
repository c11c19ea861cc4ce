"""Follow `notifier.publications` (and `notifier.presence`) completely, in partition order:
each publication goes into the channel's history and to this replica's subscribers.

Per-channel order holds because a channel lives in one partition and records of a partition
are handled one after another, synchronously (no await between history and delivery), so a
subscription registered between two records sees exactly the records after it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from pydantic import ValidationError

from services.notifier import protocol, tracing
from services.notifier.history import History
from services.notifier.hub import Hub
from services.notifier.metrics import NotifierMetrics
from services.notifier.reader import LogReader
from shared.bus.base import Record
from shared.events.contracts.notifier import PRESENCE_CHANGED, PUBLICATION, Publication

log = logging.getLogger("notifier.fanout")
PresenceSink = Callable[[Record], None]


class Fanout:
    def __init__(
        self,
        reader: LogReader,
        history: History,
        hub: Hub,
        metrics: NotifierMetrics,
        presence: PresenceSink,
    ) -> None:
        self.reader, self.history, self.hub = reader, history, hub
        self.metrics, self.presence = metrics, presence
        self._ends: dict[tuple[str, int], int] = {}
        self._positions: dict[tuple[str, int], int] = {}
        self._advanced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.caught_up = asyncio.Event()
        self._stopping = False

    async def start(self) -> None:
        bounds = await self.reader.start()
        for (topic, partition), (start, end) in bounds.items():
            self._positions[(topic, partition)] = start
            if end > start:
                self._ends[(topic, partition)] = end
            if topic == PUBLICATION.topic:
                self.history.begin(partition, start)
        self._check_caught_up()
        self._task = asyncio.create_task(self._run(), name="notifier-fanout")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.reader.stop()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def partition_for(self, channel: str) -> int:
        return self.reader.partition_for(PUBLICATION.topic, channel.encode())

    async def wait_position(self, partition: int, offset: int, within: float) -> bool:
        """Wait until this replica has read past `offset` of `partition` (recovery)."""
        try:
            async with asyncio.timeout(within):
                while self.history.position(partition) <= offset:
                    await self._advanced.wait()
        except TimeoutError:
            return False
        return True

    async def _run(self) -> None:
        while not self._stopping:
            try:
                records = await self.reader.fetch(200)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading the fan-out topics failed; retrying")
                await asyncio.sleep(1.0)
                continue
            for record in records:
                self._handle(record)
            if records:
                self._advanced.set()
                self._advanced = asyncio.Event()
                self._check_caught_up()

    def _handle(self, record: Record) -> None:
        where = (record.topic, record.partition)
        self._positions[where] = record.offset + 1
        if record.topic == PRESENCE_CHANGED.topic:
            self.presence(record)
            return
        try:
            pub = Publication.model_validate_json(record.value)
        except ValidationError:
            log.error("skipping an invalid publication at %s@%d", where, record.offset)
            self.history.advance(record.partition, record.offset + 1)
            return
        epoch = self.history.epoch(record.partition)
        frame = protocol.publication(pub.channel, record.offset, epoch, pub.event, pub.data, pub.id)
        # The broker's timestamp dates the entry (an in-memory test bus has none).
        stamp = record.timestamp_ms / 1000 if record.timestamp_ms > 0 else self.history.clock()
        self.history.append(record.partition, record.offset, pub.channel, stamp, frame)
        self.metrics.publications.inc()
        sent = tracing.deliver(self.hub, record, pub.channel, frame)
        if sent:
            self.metrics.deliveries.inc(sent)

    def _check_caught_up(self) -> None:
        if self.caught_up.is_set():
            return
        if all(self._positions.get(where, 0) >= end for where, end in self._ends.items()):
            self.caught_up.set()
