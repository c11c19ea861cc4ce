"""The sink: concurrent hits share one publish, the buffer is bounded, failures are 503s."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from services.ingest.collect.sink import Sink, UnavailableError
from shared.bus.base import Delivery, RawRecord
from shared.bus.memory import MemoryBus

pytestmark = pytest.mark.unit


class CountingBus(MemoryBus):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = False

    async def publish_batch(self, topic: str, records: Sequence[RawRecord]) -> list[Delivery]:
        self.batches.append(len(records))
        await self.gate.wait()
        if self.fail:
            raise OSError("broker gone")
        return await super().publish_batch(topic, records)


def record(n: int) -> tuple[str, bytes, bytes, tuple[tuple[str, bytes], ...]]:
    return ("t", f"v{n}".encode(), b"k", ())


async def test_concurrent_hits_share_a_publish_and_the_next_batch_waits_for_it() -> None:
    bus = CountingBus()
    sink = Sink(bus, capacity=1000, timeout=5)
    await asyncio.gather(*(sink.send(*record(n)) for n in range(100)))
    assert bus.batches == [100]  # one loop turn, one publish
    bus.gate.clear()
    first = asyncio.gather(*(sink.send(*record(n)) for n in range(10)))
    await asyncio.sleep(0.01)
    second = asyncio.gather(*(sink.send(*record(n)) for n in range(30)))
    await asyncio.sleep(0.01)
    assert bus.batches == [100, 10]  # the 30 wait while the 10 are in flight
    bus.gate.set()
    await asyncio.gather(first, second)
    assert bus.batches == [100, 10, 30]
    assert len(bus.records("t")) == 140
    assert sink.buffered == 0


async def test_the_buffer_is_bounded_and_failures_and_timeouts_are_unavailable() -> None:
    bus = CountingBus()
    bus.gate.clear()
    sink = Sink(bus, capacity=5, timeout=0.05)
    results = await asyncio.gather(
        *(sink.send(*record(n)) for n in range(8)), return_exceptions=True
    )
    assert all(isinstance(r, UnavailableError) for r in results)
    assert (sink.refused, sink.timed_out) == (3, 5)
    assert sink.buffered == 5  # held until the broker answers
    bus.fail = True
    bus.gate.set()
    await sink.close()
    assert sink.buffered == 0
    with pytest.raises(UnavailableError):
        await sink.send(*record(9))
    assert sink.failed == 1
