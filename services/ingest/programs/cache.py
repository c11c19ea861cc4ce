"""The L1 program cache every replica keeps in memory (the seed's Guava cache).

- LRU with a bounded number of entries (INGEST_CACHE_SIZE, 100,000) and a TTL
  (INGEST_CACHE_TTL_SECONDS, 10 minutes); the clock is injectable.
- Single flight: a miss starts one load per key; every hit that misses the same key meanwhile
  awaits that load, so a thousand concurrent misses read the database once.
- Negative caching: an unknown id is remembered as absent for INGEST_NEGATIVE_TTL_SECONDS, so
  a flood of random ids cannot reach the database.
- Push: `apply` puts or removes an entry the moment `programs.changes` says so. Entries carry
  the program's version, so neither a replayed change nor a database read that started before
  a change can put an older program back.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from shared.events.contracts.ingest import Program

Loader = Callable[[str], Awaitable[Program | None]]
Clock = Callable[[], float]


@dataclass(slots=True)
class Entry:
    program: Program | None  # None: known to be absent
    version: int
    expires: float


@dataclass(slots=True)
class CacheStats:
    hits: int = 0
    negative_hits: int = 0
    misses: int = 0
    loads: int = 0
    load_errors: int = 0
    evictions: int = 0  # pushed out by the LRU bound
    expirations: int = 0
    pushed: int = 0


class ProgramCache:
    def __init__(
        self,
        loader: Loader,
        *,
        size: int = 100_000,
        ttl: float = 600.0,
        negative_ttl: float = 30.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.loader, self.size, self.ttl, self.negative_ttl = loader, size, ttl, negative_ttl
        self.clock = clock
        self.stats = CacheStats()
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._loading: dict[str, asyncio.Future[Program | None]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def cached(self, key: str) -> Entry | None:
        """The live entry for `key` (counted as a hit), or None: the hot path, no await."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires <= self.clock():
            del self._entries[key]
            self.stats.expirations += 1
            return None
        self._entries.move_to_end(key)
        if entry.program is None:
            self.stats.negative_hits += 1
        else:
            self.stats.hits += 1
        return entry

    async def get(self, key: str) -> Program | None:
        entry = self.cached(key)
        if entry is not None:
            return entry.program
        self.stats.misses += 1
        loading = self._loading.get(key)
        if loading is None:
            loading = asyncio.get_running_loop().create_future()
            self._loading[key] = loading
            asyncio.get_running_loop().create_task(self._load(key, loading))
        # Shielded: a waiter that gives up (its request was cancelled) leaves the load running.
        return await asyncio.shield(loading)

    async def _load(self, key: str, loading: asyncio.Future[Program | None]) -> None:
        self.stats.loads += 1
        try:
            program = await self.loader(key)
        except Exception as exc:
            self.stats.load_errors += 1
            loading.set_exception(exc)
            loading.exception()  # retrieved: a load nobody awaits any more must not warn
        else:
            self._put(key, program, program.version if program else 0)
            current = self._entries.get(key)
            loading.set_result(current.program if current is not None else program)
        finally:
            del self._loading[key]

    def apply(self, key: str, version: int, program: Program | None) -> None:
        """A pushed change: put the program (or its absence) unless the entry is newer."""
        self.stats.pushed += 1
        self._put(key, program, version)

    def _put(self, key: str, program: Program | None, version: int) -> None:
        current = self._entries.get(key)
        if current is not None and current.version > version:
            return  # a newer change arrived while this was read or replayed
        if current is not None and current.version == version and version and program is None:
            return
        ttl = self.ttl if program is not None else self.negative_ttl
        self._entries[key] = Entry(program, version, self.clock() + ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
            self.stats.evictions += 1
