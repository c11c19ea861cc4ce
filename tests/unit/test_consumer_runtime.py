from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from shared.bus.base import Record
from shared.bus.memory import MemoryBus
from shared.consumer import EventConsumer, IdempotencyGuard, PermanentError, RetryPolicy
from shared.events.envelope import CloudEvent
from shared.store import Store
from tests.bus_support import FakeSleep, Recorder, catalog_with, parcel, parcel_spec

pytestmark = pytest.mark.unit

SPEC = parcel_spec("parcels")
CATALOG = catalog_with(SPEC)
RETRY = RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=4.0)


@pytest.fixture
async def bus() -> AsyncIterator[MemoryBus]:
    memory = MemoryBus(partitions=2)
    await memory.start()
    yield memory
    await memory.stop()


def consumer(bus: MemoryBus, handler: Any, **options: Any) -> EventConsumer:
    defaults: dict[str, Any] = {"catalog": CATALOG, "retry": RETRY, "sleep": FakeSleep()}
    return EventConsumer(
        bus, topics=["parcels"], group_id="g", handler=handler, **{**defaults, **options}
    )


class Flaky(Recorder):
    """Fails the first `failures` attempts of every event, then records it."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        super().__init__()
        self.failures, self.error, self.attempts = failures, error, 0

    async def __call__(self, event: CloudEvent[Any], record: Record) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise self.error or ConnectionError(f"attempt {self.attempts} failed")
        await super().__call__(event, record)


async def wait_until(condition: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0)


async def test_events_are_handled_in_partition_order_and_committed(bus: MemoryBus) -> None:
    events = [parcel(SPEC, n, key="one-key") for n in range(5)]
    for event in events:
        await bus.publish(SPEC, event)
    handler = Recorder()
    runner = consumer(bus, handler)
    await runner.start()
    await handler.wait_for(5)
    await runner.stop()
    assert handler.ids() == [e.id for e in events]
    assert handler.events[0].data == events[0].data
    assert sum(bus.committed("g").values()) == 5
    assert runner.stats().processed == 5


async def test_transient_failures_are_retried_with_full_jitter_backoff(bus: MemoryBus) -> None:
    await bus.publish(SPEC, parcel(SPEC, 1))
    handler, sleep = Flaky(failures=2), FakeSleep()
    runner = consumer(bus, handler, sleep=sleep)
    await runner.start()
    await handler.wait_for(1)
    await runner.stop()
    assert handler.attempts == 3
    assert len(sleep.delays) == 2
    assert 0 <= sleep.delays[0] <= 0.5
    assert 0 <= sleep.delays[1] <= 1.0
    stats = runner.stats()
    assert (stats.processed, stats.retried, stats.dead_lettered) == (1, 2, 0)
    assert bus.records("parcels.dlq") == []


async def test_exhausted_retries_dead_letter_the_original_with_why_and_where(
    bus: MemoryBus,
) -> None:
    await bus.publish(SPEC, parcel(SPEC, 1))
    handler, sleep = Flaky(failures=99, error=ConnectionError("db down " + "x" * 3000)), FakeSleep()
    runner = consumer(bus, handler, sleep=sleep)
    await runner.start()
    await wait_until(lambda: runner.stats().dead_lettered == 1)
    await runner.stop()
    (original,) = bus.records("parcels")
    (letter,) = bus.records("parcels.dlq")
    assert (letter.value, letter.key) == (original.value, original.key)
    headers = dict(letter.headers)
    for name in ("ce_id", "ce_source", "ce_type", "ce_specversion", "ce_time", "content-type"):
        assert headers[name] == original.header(name)
    assert headers["dlq_error"].startswith(b"ConnectionError: db down x")
    assert len(headers["dlq_error"]) <= 1024
    assert headers["dlq_original_topic"] == b"parcels"
    assert headers["dlq_original_partition"] == str(original.partition).encode()
    assert headers["dlq_original_offset"] == b"0"
    assert headers["dlq_attempts"] == b"3"
    assert datetime.fromisoformat(headers["dlq_failed_at"].decode()).tzinfo is not None
    assert handler.attempts == 3
    assert len(sleep.delays) == 2
    assert bus.committed("g")[("parcels", original.partition)] == 1  # moved past it


async def test_a_poison_record_goes_to_the_dead_letter_topic_at_once(bus: MemoryBus) -> None:
    await bus.publish_raw("parcels", b"{not json", key=b"k", headers=(("ce_type", b"x"),))
    good = parcel(SPEC, 2, key="k")
    await bus.publish(SPEC, good)
    handler = Recorder()
    runner = consumer(bus, handler)
    await runner.start()
    await handler.wait_for(1)
    await runner.stop()
    assert handler.ids() == [good.id]
    (letter,) = bus.records("parcels.dlq")
    headers = dict(letter.headers)
    assert headers["dlq_error"].startswith(b"DecodeError: parcels[")
    assert headers["dlq_attempts"] == b"0"
    assert letter.value == b"{not json"
    assert runner.stats().dead_lettered == 1


async def test_a_permanent_error_is_not_retried(bus: MemoryBus) -> None:
    await bus.publish(SPEC, parcel(SPEC, 1))
    handler, sleep = Flaky(failures=1, error=PermanentError("parcel is negative")), FakeSleep()
    runner = consumer(bus, handler, sleep=sleep)
    await runner.start()
    await wait_until(lambda: runner.stats().dead_lettered == 1)
    await runner.stop()
    assert sleep.delays == []
    (letter,) = bus.records("parcels.dlq")
    assert dict(letter.headers)["dlq_error"] == b"PermanentError: parcel is negative"
    assert dict(letter.headers)["dlq_attempts"] == b"1"


async def test_without_a_dead_letter_topic_a_failure_is_dropped_and_counted(
    bus: MemoryBus,
) -> None:
    await bus.publish(SPEC, parcel(SPEC, 1))
    runner = consumer(bus, Flaky(failures=1, error=PermanentError("no")), dlq=False)
    await runner.start()
    await wait_until(lambda: runner.stats().dropped == 1)
    await runner.stop()
    assert "parcels.dlq" not in bus.logs
    assert sum(bus.committed("g").values()) == 1


async def test_the_guard_skips_a_redelivered_event_and_remembers_handled_ones(
    bus: MemoryBus, store: Store
) -> None:
    guard = IdempotencyGuard.for_store(store, "processed", ttl_seconds=3600)
    await store.ensure_indexes({"processed": guard.index_models()})
    event = parcel(SPEC, 1)
    await bus.publish(SPEC, event)
    await bus.publish(SPEC, event)  # a producer retry: same id, delivered twice
    handler = Recorder()
    runner = consumer(bus, handler, guard=guard)
    await runner.start()
    await wait_until(lambda: runner.stats().duplicates_skipped == 1)
    await runner.stop()
    assert handler.ids() == [event.id]
    assert await guard.seen(f"g:{event.id}")
    assert runner.stats().processed == 1


async def test_stop_finishes_the_in_flight_record_commits_and_leaves(bus: MemoryBus) -> None:
    for n in range(4):
        await bus.publish(SPEC, parcel(SPEC, n, key="k"))
    entered, release = asyncio.Event(), asyncio.Event()
    handled: list[int] = []

    async def slow(event: CloudEvent[Any], record: Record) -> None:
        entered.set()
        await release.wait()
        handled.append(record.offset)

    runner = consumer(bus, slow)
    await runner.start()
    await asyncio.wait_for(entered.wait(), 5)
    stopping = asyncio.create_task(runner.stop())
    await asyncio.sleep(0)
    assert not stopping.done()  # waits for the in-flight record
    release.set()
    await asyncio.wait_for(stopping, 5)
    assert handled == [0]
    partition = bus.records("parcels")[0].partition
    assert bus.committed("g") == {("parcels", partition): 1}
    assert bus.groups["g"].members == []
    rest = Recorder()
    second = consumer(bus, rest)
    await second.start()
    await rest.wait_for(3)
    await second.stop()
    assert [r.offset for r in rest.records] == [1, 2, 3]


async def test_stop_during_a_backoff_leaves_the_record_uncommitted(bus: MemoryBus) -> None:
    await bus.publish(SPEC, parcel(SPEC, 1))
    napping = asyncio.Event()

    async def long_sleep(seconds: float) -> None:
        napping.set()
        await asyncio.Event().wait()  # would never end on its own

    runner = consumer(bus, Flaky(failures=99), sleep=long_sleep)
    await runner.start()
    await asyncio.wait_for(napping.wait(), 5)
    await asyncio.wait_for(runner.stop(), 5)
    assert bus.committed("g") == {}
    assert bus.records("parcels.dlq") == []


async def test_a_joining_member_takes_over_after_the_batch_is_committed(bus: MemoryBus) -> None:
    events = [parcel(SPEC, n) for n in range(30)]
    for event in events:
        await bus.publish(SPEC, event)
    first_seen, second_seen = Recorder(), Recorder()
    gate = asyncio.Event()

    async def gated(event: CloudEvent[Any], record: Record) -> None:
        await gate.wait()
        await first_seen(event, record)

    first = consumer(bus, gated, batch_size=10)
    await first.start()
    await wait_until(lambda: first._batch_lock.locked())
    second = consumer(bus, second_seen)
    joining = asyncio.create_task(second.start())  # rebalance waits for first's batch
    await asyncio.sleep(0)
    assert not joining.done()
    gate.set()
    await asyncio.wait_for(joining, 5)
    await wait_until(lambda: len(first_seen.events) + len(second_seen.events) >= 30)
    await first.stop()
    await second.stop()
    handled = first_seen.ids() + second_seen.ids()
    assert sorted(handled) == sorted(e.id for e in events)  # none lost, none twice
    assert len(second_seen.events) > 0
    assert first.stats().commit_failures == 0


async def test_stats_report_lag_per_partition(bus: MemoryBus) -> None:
    gate = asyncio.Event()

    async def blocked(event: CloudEvent[Any], record: Record) -> None:
        await gate.wait()

    runner = consumer(bus, blocked, batch_size=1)
    await runner.start()
    for n in range(3):
        await bus.publish(SPEC, parcel(SPEC, n, key="k"))
    await wait_until(lambda: sum(runner.stats().lag.values()) == 2)
    gate.set()
    await wait_until(lambda: runner.stats().processed == 3)
    assert sum(runner.stats().lag.values()) == 0
    await runner.stop()
