"""A small bounded cache with a time to live: the one every service uses for remembered lookups.

    tokens = TtlCache[str, Identity](max_size=10_000, ttl=30.0)
    hit = tokens.get(token)                      # None when absent or expired
    tokens.put(token, identity, until=exp)       # never kept past `until` (a token's expiry)

Least recently used entries go first when the cache is full, so a flood of distinct keys cannot
grow memory; an expired entry is dropped when it is read. `ttl=None` keeps entries until they
are evicted (a bounded memo). The clock is injectable, as everywhere else.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

_FOREVER = float("inf")


class TtlCache(Generic[K, V]):
    __slots__ = ("_clock", "_entries", "max_size", "ttl")

    def __init__(
        self,
        *,
        max_size: int,
        ttl: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_size < 1:
            raise ValueError("a cache holds at least one entry")
        self.max_size = max_size
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] != _FOREVER and self._clock() >= entry[0]:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: K, value: V, *, until: float | None = None) -> None:
        """Remember `value` for the cache's ttl, or until `until` (same clock) if sooner."""
        expires = _FOREVER if self.ttl is None else self._clock() + self.ttl
        if until is not None and until < expires:
            expires = until
        entries = self._entries
        entries[key] = (expires, value)
        entries.move_to_end(key)
        while len(entries) > self.max_size:
            entries.popitem(last=False)

    def pop(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()
