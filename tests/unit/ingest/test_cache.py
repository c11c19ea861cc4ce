"""The L1 program cache: LRU bound, TTL on an injected clock, single flight, negative caching,
and pushed changes that older reads cannot undo."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from services.ingest.programs.cache import ProgramCache
from shared.events.contracts.ingest import Program
from tests.clock import ManualClock

pytestmark = pytest.mark.unit


def program(pid: str, version: int = 1, name: str = "") -> Program:
    return Program(
        id=pid, advertiser="acme", name=name, version=version, updated_at=datetime.now(UTC)
    )


class Store:
    """A loader that counts reads and can be held, so misses pile up on one load."""

    def __init__(self, *known: Program) -> None:
        self.known = {p.id: p for p in known}
        self.reads: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, pid: str) -> Program | None:
        self.reads.append(pid)
        await self.gate.wait()
        return self.known.get(pid)


async def test_lru_drops_the_least_recently_used_entry_beyond_its_size() -> None:
    store = Store(*(program(f"p{i}") for i in range(4)))
    cache = ProgramCache(store, size=3, ttl=600, clock=ManualClock())
    for pid in ("p0", "p1", "p2"):
        await cache.get(pid)
    await cache.get("p0")  # p0 is now the most recent
    await cache.get("p3")  # evicts p1
    assert cache.stats.evictions == 1
    assert cache.cached("p1") is None
    assert {pid for pid in ("p0", "p2", "p3") if cache.cached(pid)} == {"p0", "p2", "p3"}
    assert store.reads == ["p0", "p1", "p2", "p3"]


async def test_entries_expire_after_their_ttl_and_are_read_again() -> None:
    clock = ManualClock()
    store = Store(program("p"))
    cache = ProgramCache(store, ttl=600, negative_ttl=30, clock=clock)
    await cache.get("p")
    clock.advance(599)
    await cache.get("p")
    assert store.reads == ["p"]
    clock.advance(1)
    await cache.get("p")
    assert store.reads == ["p", "p"]
    assert cache.stats.expirations == 1


async def test_a_thousand_concurrent_misses_read_the_store_once() -> None:
    store = Store(program("p"))
    store.gate.clear()
    cache = ProgramCache(store, clock=ManualClock())
    waiting = [asyncio.create_task(cache.get("p")) for _ in range(1000)]
    await asyncio.sleep(0)
    store.gate.set()
    results = await asyncio.gather(*waiting)
    assert store.reads == ["p"]
    assert {r.id for r in results if r is not None} == {"p"}
    assert len(results) == 1000
    assert (cache.stats.misses, cache.stats.loads) == (1000, 1)


async def test_unknown_ids_are_cached_negatively_for_a_short_time() -> None:
    clock = ManualClock()
    store = Store()
    cache = ProgramCache(store, ttl=600, negative_ttl=30, clock=clock)
    for _ in range(100):
        assert await cache.get("ghost") is None
    assert store.reads == ["ghost"]
    assert cache.stats.negative_hits == 99
    clock.advance(30)
    assert await cache.get("ghost") is None
    assert store.reads == ["ghost", "ghost"]


async def test_a_failed_read_reaches_every_waiter_and_is_not_cached() -> None:
    calls = 0

    async def broken(pid: str) -> Program | None:
        nonlocal calls
        calls += 1
        raise ConnectionError("store down")

    cache = ProgramCache(broken, clock=ManualClock())
    results = await asyncio.gather(*(cache.get("p") for _ in range(10)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    assert calls == 1
    with pytest.raises(ConnectionError):
        await cache.get("p")
    assert calls == 2


async def test_a_push_wins_over_a_read_that_started_before_it() -> None:
    store = Store(program("p", version=1, name="old"))
    store.gate.clear()
    cache = ProgramCache(store, clock=ManualClock())
    reading = asyncio.create_task(cache.get("p"))
    await asyncio.sleep(0)
    cache.apply("p", 2, program("p", version=2, name="new"))
    store.gate.set()
    read = await reading
    assert read is not None
    assert read.name == "new"  # the stale read did not replace the pushed version
    cache.apply("p", 1, program("p", version=1, name="old"))  # a replayed older change
    entry = cache.cached("p")
    assert entry is not None
    assert entry.program is not None
    assert entry.program.name == "new"
    cache.apply("p", 3, None)  # deleted
    assert await cache.get("p") is None
    assert store.reads == ["p"]
