"""The in-memory whole-log reader (the unit-test stand-in for `KafkaLogReader`)."""

from __future__ import annotations

import pytest

from shared.bus.logreader import MemoryLogReader
from shared.bus.memory import MemoryBus

pytestmark = pytest.mark.unit


async def test_reads_everything_from_the_start_then_follows() -> None:
    bus = MemoryBus(partitions=2)
    for n in range(5):
        await bus.publish_raw("log", f"v{n}".encode(), key=f"k{n}".encode(), headers=())
    reader = MemoryLogReader(bus, ["log", "other"])
    bounds = await reader.start()
    assert sum(end for _, end in bounds.values()) == 5
    assert {start for start, _ in bounds.values()} == {0}
    assert len(bounds) == 4  # two partitions of each topic, the empty one included
    assert sorted(r.value for r in await reader.fetch(100)) == [f"v{n}".encode() for n in range(5)]
    assert await reader.fetch(10) == []
    delivery = await bus.publish_raw("log", b"later", key=b"k0", headers=())
    assert [r.value for r in await reader.fetch(1000)] == [b"later"]
    assert reader.partition_for("log", b"k0") == delivery.partition
    assert sum((await reader.end_offsets()).values()) == 6
    await reader.stop()
