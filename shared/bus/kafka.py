"""The Kafka bus (aiokafka).

Producer: acks=all (a return from `publish` means every in-sync replica has the record),
idempotence from settings (tansu rejects it), gzip, a short linger so concurrent publishes
share a batch. Consumers: `KafkaRecordSource`, a group member with manual commits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, for_code
from aiokafka.partitioner import DefaultPartitioner
from opentelemetry.trace import Span, Status, StatusCode

from shared.bus.base import Delivery, Headers, RawRecord, RevokeHook
from shared.bus.codec import encode
from shared.bus.kafka_source import KafkaRecordSource
from shared.events.catalog import EventSpec
from shared.events.envelope import CloudEvent
from shared.settings import PlatformSettings
from shared.telemetry.kafka import producer_span

log = logging.getLogger(__name__)
TOPIC_ALREADY_EXISTS = 36


class KafkaBus:
    def __init__(
        self,
        platform: PlatformSettings,
        *,
        client_id: str,
        linger_ms: int = 5,
        ping_timeout: float = 2.0,
        consumer_options: Mapping[str, Any] | None = None,
        producer_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.platform = platform
        self.client_id = f"{platform.kafka_client_id_prefix}-{client_id}"
        self.linger_ms = linger_ms
        self.ping_timeout = ping_timeout
        # Group timings: a 1 s heartbeat lets members notice a rebalance quickly.
        self.consumer_options: dict[str, Any] = {
            "session_timeout_ms": 10_000,
            "heartbeat_interval_ms": 1_000,
            "fetch_max_wait_ms": platform.kafka_fetch_max_wait_ms,
            **(consumer_options or {}),
        }
        # aiokafka's own options on top of ours, e.g. `max_batch_size`: a partition has one
        # request in flight at a time, so a hot key moves at most one batch per round trip.
        self.producer_options: dict[str, Any] = dict(producer_options or {})
        self._producer: AIOKafkaProducer | None = None
        self._partitioner = DefaultPartitioner()

    @property
    def bootstrap(self) -> str:
        return self.platform.kafka_bootstrap_servers

    async def start(self) -> None:
        if self._producer is not None:
            return
        options: dict[str, Any] = {
            "acks": "all",
            "enable_idempotence": self.platform.kafka_enable_idempotence,
            "compression_type": "gzip",
            "linger_ms": self.linger_ms,
            **self.producer_options,
        }
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, client_id=self.client_id, **options
        )
        try:
            await producer.start()
        except BaseException:
            # A failed start (broker unreachable) leaves a half-built client behind: close it,
            # or it is garbage-collected unclosed ("Unclosed AIOKafkaProducer").
            await producer.stop()
            raise
        self._producer = producer

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()  # flushes what is still buffered

    async def ping(self) -> bool:
        """Readiness: a metadata round-trip within `ping_timeout`; never raises."""
        if self._producer is None:
            return False
        try:
            cluster = await asyncio.wait_for(
                self._producer.client.fetch_all_metadata(), self.ping_timeout
            )
        except (TimeoutError, KafkaError, OSError):
            return False
        return bool(cluster.brokers())

    async def ensure_topics(self, topics: Iterable[str]) -> None:
        """Create missing topics with the configured partitions and replication."""
        wanted = sorted(set(topics))
        if not wanted:
            return
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, client_id=self.client_id)
        await admin.start()
        try:
            response = await admin.create_topics(
                [
                    NewTopic(
                        name,
                        self.platform.kafka_topic_partitions,
                        self.platform.kafka_replication_factor,
                    )
                    for name in wanted
                ]
            )
        finally:
            await admin.close()
        for error in response.topic_errors:
            topic, code = error[0], error[1]
            if code not in (0, TOPIC_ALREADY_EXISTS):
                raise for_code(code)(f"creating topic {topic}")

    async def publish(self, spec: EventSpec[Any], event: CloudEvent[Any]) -> Delivery:
        return await (await self.enqueue(spec, event))

    async def publish_raw(
        self, topic: str, value: bytes, *, key: bytes | None, headers: Headers
    ) -> Delivery:
        event_type = next((v.decode() for k, v in headers if k == "ce_type"), None)
        return await (await self._enqueue(topic, value, key, list(headers), event_type))

    async def enqueue(
        self, spec: EventSpec[Any], event: CloudEvent[Any]
    ) -> asyncio.Future[Delivery]:
        key, value, headers = encode(spec, event)
        return await self._enqueue(spec.topic, value, key, headers, event.type)

    async def _enqueue(
        self,
        topic: str,
        value: bytes,
        key: bytes | None,
        headers: list[tuple[str, bytes]],
        event_type: str | None,
    ) -> asyncio.Future[Delivery]:
        """Into the producer's buffer (in call order); the future resolves on acks=all."""
        if self._producer is None:
            raise RuntimeError("KafkaBus.publish before start()")
        # The PRODUCER span lasts until the acknowledgement.
        span = producer_span(topic, headers, event_type=event_type, key=key).span
        try:
            sent = await self._producer.send(topic, value, key=key, headers=headers)
        except BaseException as exc:
            _end_span(span, exc)
            raise
        delivered: asyncio.Future[Delivery] = asyncio.get_running_loop().create_future()

        def acknowledged(ack: asyncio.Future[Any]) -> None:
            error = ack.exception() if not ack.cancelled() else asyncio.CancelledError()
            if error is not None:
                _end_span(span, error)
                if not delivered.done():
                    delivered.set_exception(error)
                return
            metadata = ack.result()
            if span.is_recording():
                span.set_attributes(
                    {
                        "messaging.kafka.partition": metadata.partition,
                        "messaging.kafka.offset": metadata.offset,
                    }
                )
            span.end()
            if not delivered.done():
                delivered.set_result(Delivery(topic, metadata.partition, metadata.offset))

        sent.add_done_callback(acknowledged)
        return delivered

    async def publish_batch(self, topic: str, records: Sequence[RawRecord]) -> list[Delivery]:
        """Many records at once, every one acknowledged (acks=all) when this returns.

        For publishers that gather records themselves (the ingest's sink): one producer batch per
        partition (aiokafka's `create_batch`/`send_batch`) and one PRODUCER span for all, instead
        of a coroutine, a future and a span per record. Keys go to the partitions the producer's
        own partitioner would choose, so a key's records stay in order with `publish`'s."""
        producer = self._producer
        if producer is None:
            raise RuntimeError("KafkaBus.publish_batch before start()")
        if not records:
            return []
        partitions = sorted(await producer.partitions_for(topic))
        carrier: list[tuple[str, bytes]] = []
        span = producer_span(topic, carrier, event_type=None, key=None).span
        if span.is_recording():
            span.set_attribute("messaging.batch.message_count", len(records))
        by_partition: dict[int, list[int]] = {}
        chosen: dict[bytes | None, int] = {}  # keys repeat (a program's hits): murmur2 once
        for index, (key, _, _) in enumerate(records):
            partition = chosen.get(key)
            if partition is None or key is None:
                partition = chosen[key] = self._partitioner(key, partitions, partitions)
            by_partition.setdefault(partition, []).append(index)
        sent: list[tuple[int, list[int], asyncio.Future[Any]]] = []
        try:
            for partition, indices in by_partition.items():
                builder, members = producer.create_batch(), list[int]()
                for index in indices:
                    key, value, headers = records[index]
                    record_headers = [*headers, *carrier]
                    if (
                        builder.append(key=key, value=value, timestamp=None, headers=record_headers)
                        is None
                    ):
                        sent.append(
                            (
                                partition,
                                members,
                                await producer.send_batch(builder, topic, partition=partition),
                            )
                        )
                        builder, members = producer.create_batch(), list[int]()
                        if (
                            builder.append(
                                key=key, value=value, timestamp=None, headers=record_headers
                            )
                            is None
                        ):
                            raise ValueError(
                                f"a record of {len(value)} bytes exceeds the batch size"
                            )
                    members.append(index)
                sent.append(
                    (
                        partition,
                        members,
                        await producer.send_batch(builder, topic, partition=partition),
                    )
                )
            acks = await asyncio.gather(*(future for _, _, future in sent))
        except BaseException as exc:
            _end_span(span, exc)
            raise
        span.end()
        deliveries: list[Delivery | None] = [None] * len(records)
        for (partition, members, _), metadata in zip(sent, acks, strict=True):
            for position, index in enumerate(members):
                deliveries[index] = Delivery(topic, partition, metadata.offset + position)
        return [delivery for delivery in deliveries if delivery is not None]

    def source(
        self, topics: Sequence[str], group_id: str, *, on_revoke: RevokeHook | None = None
    ) -> KafkaRecordSource:
        return KafkaRecordSource(
            self.bootstrap,
            list(topics),
            group_id,
            client_id=self.client_id,
            on_revoke=on_revoke,
            options=self.consumer_options,
        )


def _end_span(span: Span, error: BaseException) -> None:
    if span.is_recording():
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
    span.end()
