"""The shared bounded TTL cache: expiry by ttl or by an earlier `until`, LRU eviction."""

from __future__ import annotations

import pytest

from shared.cache import TtlCache
from tests.clock import ManualClock

pytestmark = pytest.mark.unit


def test_entries_expire_after_the_ttl_or_an_earlier_until() -> None:
    clock = ManualClock()
    cache = TtlCache[str, int](max_size=10, ttl=30.0, clock=clock)
    cache.put("a", 1)
    cache.put("b", 2, until=clock() + 5)
    cache.put("c", 3, until=clock() + 500)  # the ttl still bounds it
    clock.advance(4.9)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, 2, 3)
    clock.advance(0.1)
    assert cache.get("b") is None
    clock.advance(25)
    assert (cache.get("a"), cache.get("c")) == (None, None)
    assert len(cache) == 0  # expired entries are dropped when read


def test_the_least_recently_used_entry_goes_first() -> None:
    cache = TtlCache[str, int](max_size=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_without_a_ttl_entries_stay_until_evicted_or_popped() -> None:
    clock = ManualClock()
    cache = TtlCache[str, int](max_size=5, clock=clock)
    cache.put("a", 1)
    clock.advance(10**9)
    assert cache.get("a") == 1
    cache.pop("a")
    cache.pop("missing")
    assert cache.get("a") is None
    with pytest.raises(ValueError, match="at least one"):
        TtlCache[str, int](max_size=0)
