"""Channel history and recovery.

A channel lives in one partition of `notifier.publications`, so the record's Kafka offset is a
monotonic channel offset; the epoch names the stream (`<NOTIFIER_HISTORY_EPOCH>-<partition>`).
Every replica reads the partitions from their start, so it knows, for each publication, the
offset of the channel's previous one (`prev`). A client that last saw offset O missed exactly
the entries after O if the first of them has `prev <= O`; otherwise history no longer covers
the gap (trimmed to N, expired, or read from before this replica's start) and recovery fails.

When `prev` is unknown (first record of a channel since the reader's start, or since the
channel's state expired) it is replaced by an upper bound, `max(start - 1, horizon)`, where
the horizon is the newest offset of any expired channel of that partition: the check stays
exact-or-refuse, never silently lossy.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class Entry:
    offset: int
    prev: int
    expires_at: float
    frame: bytes


@dataclass(slots=True)
class ChannelState:
    partition: int
    last: int
    last_expires_at: float
    entries: deque[Entry] = field(default_factory=deque)


@dataclass(slots=True)
class PartitionState:
    start: int  # first offset this replica read (or will read)
    position: int  # next offset to read
    horizon: int = -1  # newest offset of an expired channel state


class History:
    def __init__(
        self, size: int, ttl_seconds: float, epoch: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.size, self.ttl, self.base_epoch, self.clock = size, ttl_seconds, epoch, clock
        self.partitions: dict[int, PartitionState] = {}
        self.channels: dict[str, ChannelState] = {}

    def epoch(self, partition: int) -> str:
        return f"{self.base_epoch}-{partition}"

    def begin(self, partition: int, start: int) -> None:
        self.partitions[partition] = PartitionState(start=start, position=start)

    def position(self, partition: int) -> int:
        state = self.partitions.get(partition)
        return state.position if state is not None else 0

    def append(
        self, partition: int, offset: int, channel: str, timestamp: float, frame: bytes
    ) -> None:
        part = self.partitions.setdefault(partition, PartitionState(offset, offset))
        part.position = max(part.position, offset + 1)
        expires_at = timestamp + self.ttl
        state = self._live(channel)
        if state is None:
            prev = max(part.start - 1, part.horizon)
            state = self.channels[channel] = ChannelState(partition, offset, expires_at)
        else:
            prev = state.last
            state.last, state.last_expires_at = offset, expires_at
        if self.size > 0 and expires_at > self.clock():
            state.entries.append(Entry(offset, prev, expires_at, frame))
            while len(state.entries) > self.size:
                state.entries.popleft()

    def advance(self, partition: int, position: int) -> None:
        part = self.partitions.get(partition)
        if part is not None:
            part.position = max(part.position, position)

    def top(self, channel: str, partition: int) -> int:
        """The channel's current offset: its last publication, or a position past it."""
        state = self._live(channel)
        return state.last if state is not None else self.position(partition) - 1

    def missed(self, channel: str, partition: int, since: int) -> list[bytes] | None:
        """Frames published on `channel` after offset `since`, or None if unknowable."""
        part = self.partitions.get(partition)
        if part is None or since + 1 > part.position:
            return None
        state = self._live(channel)
        if state is None:
            return [] if max(part.start - 1, part.horizon) <= since else None
        if since >= state.last:
            return []
        entries = [entry for entry in state.entries if entry.offset > since]
        if not entries or entries[0].prev > since:
            return None
        return [entry.frame for entry in entries]

    def _live(self, channel: str) -> ChannelState | None:
        state = self.channels.get(channel)
        if state is None:
            return None
        now = self.clock()
        while state.entries and state.entries[0].expires_at <= now:
            state.entries.popleft()
        if state.last_expires_at <= now:
            self._drop(channel, state)
            return None
        return state

    def _drop(self, channel: str, state: ChannelState) -> None:
        del self.channels[channel]
        part = self.partitions.get(state.partition)
        if part is not None:
            part.horizon = max(part.horizon, state.last)

    def expire(self) -> int:
        """Drop expired entries and channels (called periodically); returns channels dropped."""
        before = len(self.channels)
        for channel in list(self.channels):
            self._live(channel)
        return before - len(self.channels)

    def entries(self) -> int:
        return sum(len(state.entries) for state in self.channels.values())
