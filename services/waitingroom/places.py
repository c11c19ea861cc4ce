"""Places in a zone and the admission order of those still waiting.

The order key is (tier rank, lottery rank, queue number): higher tiers first, then a lottery
zone's shuffled pre-queue, then arrival order (the Kafka offset of the join). Keys live in a
sorted list, so a position is one bisection: O(log n) per status query.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from opentelemetry.trace import SpanContext

PlaceState = Literal["waiting", "admitted", "expired", "completed", "left"]
AFTER_LOTTERY = 1 << 62  # joined after the pre-queue was shuffled: behind every drawn place
Key = tuple[int, int, int]


@dataclass
class Place:
    user: str
    number: int  # offset of the join event in the zone's partition
    tier: str
    tier_rank: int
    joined_at: float
    last_seen: float
    lottery: int = 0
    state: PlaceState = "waiting"
    exempt: bool = False
    jti: str | None = None
    admitted_at: float | None = None
    expires_at: float | None = None
    notified_position: int | None = None
    join: SpanContext | None = None  # the join's span context, kept only when it was sampled

    @property
    def key(self) -> Key:
        return (self.tier_rank, self.lottery, self.number)


class WaitingLine:
    """The waiting places, ordered for admission."""

    def __init__(self) -> None:
        self._keys: list[Key] = []
        self._by_number: dict[int, Place] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, place: Place) -> None:
        bisect.insort(self._keys, place.key)
        self._by_number[place.number] = place

    def remove(self, place: Place) -> None:
        index = bisect.bisect_left(self._keys, place.key)
        if index < len(self._keys) and self._keys[index] == place.key:
            del self._keys[index]
            self._by_number.pop(place.number, None)

    def ahead_of(self, place: Place) -> int:
        """How many waiting places come before this one."""
        return bisect.bisect_left(self._keys, place.key)

    def __iter__(self) -> Iterator[Place]:
        """Waiting places in admission order."""
        for key in list(self._keys):
            yield self._by_number[key[2]]

    def rebuild(self, places: list[Place]) -> None:
        self._keys = sorted(place.key for place in places)
        self._by_number = {place.number: place for place in places}


@dataclass(frozen=True)
class Outcome:
    ok: bool
    reason: str = ""
    count: int = 0


@dataclass(frozen=True)
class Note:
    """A change a visitor (or the whole zone when user is None) should hear about."""

    user: str | None
    event: str
    data: dict[str, Any] = field(default_factory=dict)
    # Tracing (services/waitingroom/tracing.py): the visitor's sampled join, for an admission;
    # the log record whose application made the note (its trace is the one to continue).
    join: SpanContext | None = None
    cause: SpanContext | None = None
