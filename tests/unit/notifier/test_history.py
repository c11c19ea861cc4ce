"""History and recovery decisions, exact or refused, never silently lossy."""

from __future__ import annotations

import pytest

from services.notifier.history import History
from tests.clock import ManualClock

pytestmark = pytest.mark.unit


def make(size: int = 3, ttl: float = 60.0, start: int = 0) -> tuple[History, ManualClock]:
    clock = ManualClock()
    history = History(size, ttl, "e", clock)
    history.begin(0, start)
    return history, clock


def add(history: History, offset: int, channel: str, stamp: float = 1000.0) -> None:
    history.append(0, offset, channel, stamp, f"{channel}@{offset}".encode())


def test_missed_publications_are_exactly_those_after_the_offset() -> None:
    history, _ = make()
    for offset, channel in enumerate(["a", "b", "a", "b", "a"]):
        add(history, offset, channel)
    assert history.missed("a", 0, 0) == [b"a@2", b"a@4"]
    assert history.missed("a", 0, 2) == [b"a@4"]
    assert history.missed("a", 0, 4) == []
    assert history.top("a", 0) == 4
    assert history.epoch(0) == "e-0"


def test_a_gap_beyond_the_kept_size_is_refused() -> None:
    history, _ = make(size=2)
    for offset in range(5):
        add(history, offset, "a")
    assert history.missed("a", 0, 2) == [b"a@3", b"a@4"]
    assert history.missed("a", 0, 1) is None  # offset 2 was trimmed


def test_expired_entries_are_refused_and_the_channel_forgotten_safely() -> None:
    history, clock = make(ttl=10)
    add(history, 0, "a")
    add(history, 1, "a")
    clock.now += 11
    assert history.expire() == 1
    assert history.missed("a", 0, 0) is None  # offset 1 expired: the client missed it
    assert history.missed("a", 0, 1) == []  # it had everything
    add(history, 2, "a", stamp=clock.now)
    assert history.missed("a", 0, 0) is None
    assert history.missed("a", 0, 1) == [b"a@2"]


def test_what_happened_before_this_replica_started_reading_is_unknown() -> None:
    history, _ = make(start=10)
    add(history, 12, "a")
    assert history.missed("a", 0, 9) == [b"a@12"]  # everything from 10 on was read
    assert history.missed("a", 0, 5) is None  # 6..9 were never read here
    assert history.missed("quiet", 0, 11) == []
    assert history.missed("quiet", 0, 3) is None


def test_an_offset_this_replica_has_not_read_yet_is_not_answered() -> None:
    history, _ = make()
    add(history, 0, "a")
    assert history.missed("a", 0, 5) is None
