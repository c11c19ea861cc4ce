"""A Kafka consumer-group member with manual commits (the consumer runtime's `RecordSource`).

Auto-commit is off: the runtime commits `offset + 1` only after a record is handled or dead
lettered. A new group starts from the earliest record, so nothing published before the first
member joined is skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError as KafkaCommitFailedError
from aiokafka.errors import IllegalStateError, KafkaError
from aiokafka.protocol.group import LeaveGroupRequest

from shared.bus.base import CommitFailedError, Record, RevokeHook
from shared.bus.base import TopicPartition as BusPartition

log = logging.getLogger(__name__)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Awaits the runtime's hook before partitions go, so it can commit what it handled."""

    def __init__(self, hook: RevokeHook | None) -> None:
        self.hook = hook
        self.assigned: Callable[[], None] | None = None

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        if self.hook is not None and revoked:
            await self.hook({(tp.topic, tp.partition) for tp in revoked})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("assigned partitions %s", sorted((tp.topic, tp.partition) for tp in assigned))
        if self.assigned is not None:
            self.assigned()


class KafkaRecordSource:
    def __init__(
        self,
        bootstrap: str,
        topics: list[str],
        group_id: str,
        *,
        client_id: str,
        on_revoke: RevokeHook | None,
        options: Mapping[str, Any],
    ) -> None:
        self.topics = topics
        self.group_id = group_id
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **options,
        )
        self._started = False
        # Next offset to fetch per partition, for lag(); aiokafka's own is async-only.
        self._positions: dict[BusPartition, int] = {}
        self._listener = _Listener(on_revoke)
        self._listener.assigned = self._positions.clear

    async def start(self) -> None:
        self._consumer.subscribe(self.topics, listener=self._listener)
        await self._consumer.start()
        self._started = True

    async def stop(self) -> None:
        """Leave the group (LeaveGroup), committing nothing: the runtime already did."""
        if self._started:
            self._started = False
            await _leave_generation_zero(self._consumer)
            await self._consumer.stop()

    async def fetch(self, timeout_ms: int, max_records: int) -> Sequence[Record]:
        batches = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        await self._track_positions()
        return [
            Record(
                topic=r.topic,
                partition=r.partition,
                offset=r.offset,
                key=r.key,
                value=r.value or b"",
                headers=tuple(r.headers),
                timestamp_ms=r.timestamp,
            )
            for _, records in sorted(batches.items())
            for r in records
        ]

    async def _track_positions(self) -> None:
        # A known high watermark means a fetch response came back, so the position is valid
        # and `position()` answers without a round-trip.
        for tp in self._consumer.assignment():
            if self._consumer.highwater(tp) is None:
                continue
            try:
                position = await self._consumer.position(tp)
            except IllegalStateError:  # revoked meanwhile
                continue
            self._positions[(tp.topic, tp.partition)] = position

    def assignment(self) -> set[BusPartition]:
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    async def commit(self, offsets: Mapping[BusPartition, int]) -> None:
        if not offsets:
            return
        try:
            await self._consumer.commit(
                {TopicPartition(t, p): offset for (t, p), offset in offsets.items()}
            )
        except (KafkaCommitFailedError, IllegalStateError) as exc:
            raise CommitFailedError(str(exc)) from exc

    async def seek(self, topic: str, partition: int, offset: int) -> None:
        tp = TopicPartition(topic, partition)
        if tp in self._consumer.assignment():
            self._consumer.seek(tp, offset)

    def lag(self) -> Mapping[BusPartition, int]:
        """Records not yet consumed, per assigned partition whose position is known."""
        lags: dict[BusPartition, int] = {}
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            position = self._positions.get((tp.topic, tp.partition))
            if highwater is not None and position is not None:
                lags[(tp.topic, tp.partition)] = max(0, highwater - position)
        return lags


async def _leave_generation_zero(consumer: AIOKafkaConsumer) -> None:
    """Send LeaveGroup for a member of generation 0, which aiokafka skips.

    aiokafka only leaves when `generation > 0` (Kafka numbers generations from 1); tansu
    numbers them from 0, so without this the group would wait a whole session timeout for
    a member that has gone. Best effort, like aiokafka's own leave.
    """
    coordinator = getattr(consumer, "_coordinator", None)
    if coordinator is None or coordinator.generation != 0 or not coordinator.member_id:
        return
    try:
        await coordinator._send_req(LeaveGroupRequest(coordinator.group_id, coordinator.member_id))
    except KafkaError as exc:
        log.warning("LeaveGroup for generation 0 failed: %s", exc)
