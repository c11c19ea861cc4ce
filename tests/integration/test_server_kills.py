"""The real servers killed under load (SIGKILL: no flush, no goodbye) and started again.

- FerretDB mid-write: every insert it acknowledged is there after the restart.
- Kafka under produce: every publish it acknowledged (acks=all) is in the log after the restart,
  and a consumer group resumes from its committed offsets: every acknowledged event is handled,
  none skipped.

Each test runs its own server in a temporary directory (never the session's).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo.errors import PyMongoError

from shared.bus.kafka import KafkaBus
from shared.consumer import EventConsumer
from shared.settings import PlatformSettings
from shared.stack import ferretdb, kafka
from shared.store import connect
from tests.bus_support import Recorder, catalog_with, parcel, parcel_spec

pytestmark = pytest.mark.integration


class CoverageRecorder(Recorder):
    async def wait_for_ids(self, wanted: set[str], timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: wanted <= set(self.ids()))
        except TimeoutError:
            missing = wanted - set(self.ids())
            raise AssertionError(f"{len(missing)} acknowledged events never handled") from None


async def read_log(bootstrap: str, topic: str) -> set[str]:
    """Every event id in the topic, read without a group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = range(PlatformSettings().kafka_topic_partitions)  # as ensure_topics made it
        assigned = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(assigned)
        ends = await consumer.end_offsets(assigned)
        ids: set[str] = set()
        async with asyncio.timeout(60):
            while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    ids.update(
                        value.decode() for r in batch for key, value in r.headers if key == "ce_id"
                    )
        return ids
    finally:
        await consumer.stop()


@pytest.fixture
def own_ferretdb(tmp_path: Path) -> Iterator[ferretdb.FerretDB]:
    server = ferretdb.FerretDB.start(ferretdb.ensure_binary(), data_dir=tmp_path / "ferretdb")
    try:
        yield server
    finally:
        server.stop()


async def test_ferretdb_killed_mid_write_keeps_every_acknowledged_insert(
    own_ferretdb: ferretdb.FerretDB,
) -> None:
    store = connect(own_ferretdb.url, "kills", service="tests")
    collection = store.db["orders"]
    acknowledged: list[int] = []
    enough = asyncio.Event()

    async def writer(lane: int) -> None:
        for n in range(10_000):
            try:
                await collection.insert_one({"_id": lane * 100_000 + n, "lane": lane})
            except PyMongoError:
                return  # the server is gone: nothing more is acknowledged
            acknowledged.append(lane * 100_000 + n)
            if len(acknowledged) >= 300:
                enough.set()

    writers = [asyncio.create_task(writer(lane)) for lane in range(4)]
    await asyncio.wait_for(enough.wait(), 60)
    own_ferretdb.server.kill()  # mid-write: four writers have inserts in flight
    await asyncio.gather(*writers)
    await store.close()

    restarted = own_ferretdb.restart()
    try:
        reader = connect(restarted.url, "kills", service="tests")
        stored = {doc["_id"] async for doc in reader.db["orders"].find({}, projection={"_id": 1})}
        await reader.close()
    finally:
        restarted.stop()
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged inserts lost"
    assert len(acknowledged) >= 300


@pytest.fixture
async def own_kafka(tmp_path: Path) -> AsyncIterator[kafka.KafkaBroker]:
    broker = await asyncio.to_thread(
        kafka.KafkaBroker.start, kafka.ensure_jars(), data_dir=tmp_path / "kafka"
    )
    try:
        yield broker
    finally:
        await asyncio.to_thread(broker.stop)


async def test_kafka_killed_under_produce_keeps_acknowledged_events_and_committed_offsets(
    own_kafka: kafka.KafkaBroker, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", own_kafka.bootstrap)
    spec = parcel_spec(f"kills-{unique}")
    bus = KafkaBus(
        PlatformSettings(),
        client_id="kills",
        consumer_options={"session_timeout_ms": 6_000, "heartbeat_interval_ms": 500},
    )
    await bus.start()
    await bus.ensure_topics([spec.topic])
    handled = CoverageRecorder()
    consumer = EventConsumer(
        bus,
        topics=[spec.topic],
        group_id=f"g-{unique}",
        handler=handled,
        catalog=catalog_with(spec),
    )
    await consumer.start()
    acknowledged: list[str] = []
    refused = 0

    async def publish(n: int) -> None:
        nonlocal refused
        event = parcel(spec, n, key=f"k{n % 12}")
        try:
            await asyncio.wait_for(bus.publish(spec, event), 5)
        except Exception:  # unacknowledged: the caller would have answered 503
            refused += 1
            return
        acknowledged.append(event.id)

    try:
        await asyncio.gather(*(publish(n) for n in range(400)))
        await handled.wait_for(400, timeout=60)  # consumed and committed as it goes
        in_flight = [asyncio.create_task(publish(n)) for n in range(400, 1400)]
        await asyncio.sleep(0)  # let the sends enter the producer's buffer
        own_kafka.server.kill()
        await asyncio.gather(*in_flight)
        restarted = await asyncio.to_thread(own_kafka.restart)
        try:
            await asyncio.gather(*(publish(n) for n in range(1400, 1600)))
            in_log = await read_log(restarted.bootstrap, spec.topic)
            lost = set(acknowledged) - in_log
            assert not lost, f"{len(lost)} acknowledged events are not in the log"
            await handled.wait_for_ids(set(acknowledged), timeout=120)
            assert len(acknowledged) >= 600
            # It resumed from its committed offsets: only records handled but not yet committed
            # when the broker died come again, not the partitions from the start.
            again = len(handled.ids()) - len(set(handled.ids()))
            assert again < 400
        finally:
            await consumer.stop()
            await bus.stop()
            await asyncio.to_thread(restarted.stop)
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
        with contextlib.suppress(Exception):
            await bus.stop()
