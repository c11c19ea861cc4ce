"""Which zone-log partitions this replica controls: a member of the `waitingroom-controller`
consumer group on the zone log. The group gives each partition exactly one owner; the owner runs
admission for the zones in it. The records themselves are ignored here (the follower applies
them), the member only fetches to keep its membership and commits so lag stays meaningful.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

from shared.bus.base import Bus, RecordSource, TopicPartition

log = logging.getLogger("waitingroom.ownership")
GROUP = "waitingroom-controller"


class Ownership:
    def __init__(self, bus: Bus, topic: str, group_id: str = GROUP) -> None:
        self.bus, self.topic, self.group_id = bus, topic, group_id
        self.owned: set[int] = set()
        self.changed = asyncio.Event()
        self._source: RecordSource | None = None
        self._task: asyncio.Task[None] | None = None

    def owns(self, partition: int) -> bool:
        return partition in self.owned

    async def start(self) -> None:
        self._source = self.bus.source([self.topic], self.group_id, on_revoke=self._revoked)
        await self._source.start()
        self._refresh()
        self._task = asyncio.create_task(self._run(), name="waitingroom-ownership")

    async def stop(self) -> None:
        """Give the partitions up at once (before leaving), so no decision races the next owner."""
        self.owned = set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        source, self._source = self._source, None
        if source is not None:
            await source.stop()

    async def _revoked(self, partitions: Collection[TopicPartition]) -> None:
        self.owned -= {p for t, p in partitions if t == self.topic}
        self.changed.set()

    def _refresh(self) -> None:
        assert self._source is not None
        owned = {p for t, p in self._source.assignment() if t == self.topic}
        if owned != self.owned:
            log.info("owning zone-log partitions %s", sorted(owned))
            self.owned = owned
            self.changed.set()

    async def _run(self) -> None:
        assert self._source is not None
        while True:
            try:
                records = await self._source.fetch(500, 1000)
                self._refresh()
                ends: dict[TopicPartition, int] = {}
                for record in records:
                    ends[(record.topic, record.partition)] = record.offset + 1
                await self._source.commit(ends)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("controller group membership failed; retrying")
                await asyncio.sleep(1.0)
