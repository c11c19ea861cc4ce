"""A rate-based rule (AWS WAF style): block an address that exceeds N requests in a window.

Counting uses fixed sub-window buckets (window / BUCKETS wide) per address, so memory per address
is bounded and the window slides in bucket steps: a request leaves the count between
`window` and `window + window / BUCKETS` after it arrived. The number of tracked addresses is
bounded too; the least recently seen address is forgotten first (recency kept per sub-window:
an address that is actively flooding is always recent, so eviction cannot free it).

Unlike AWS, which lifts a block once the rate falls back under the limit, a block here lasts a
fixed period, so an attacker cannot pulse just under the evaluation cadence.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

Clock = Callable[[], float]
BUCKETS = 30


@dataclass(slots=True)
class _Counter:
    buckets: deque[list[int]] = field(default_factory=deque)  # [bucket index, count], oldest first
    total: int = 0

    def add(self, bucket: int, horizon: int) -> int:
        while self.buckets and self.buckets[0][0] <= horizon:
            self.total -= self.buckets.popleft()[1]
        if self.buckets and self.buckets[-1][0] == bucket:
            self.buckets[-1][1] += 1
        else:
            self.buckets.append([bucket, 1])
        self.total += 1
        return self.total


@dataclass(frozen=True, slots=True)
class Block:
    key: str
    until: float  # on the rule's clock
    reason: str


class RateBasedRule:
    def __init__(
        self,
        *,
        limit: int,
        window_seconds: float,
        block_seconds: float,
        max_tracked: int,
        clock: Clock,
    ) -> None:
        if limit < 1 or window_seconds <= 0 or block_seconds <= 0 or max_tracked < 1:
            raise ValueError("rate-based rule needs limit>=1, window>0, block>0, max_tracked>=1")
        self.limit = limit
        self.window_seconds = window_seconds
        self.block_seconds = block_seconds
        self._bucket_seconds = window_seconds / BUCKETS
        self._max_tracked = max_tracked
        self._clock = clock
        self._counters: OrderedDict[str, _Counter] = OrderedDict()
        self._blocks: OrderedDict[str, Block] = OrderedDict()

    def blocked(self, key: str) -> Block | None:
        """The active block on `key`, if any (an expired block is dropped on the way)."""
        block = self._blocks.get(key)
        if block is None:
            return None
        if block.until <= self._clock():
            del self._blocks[key]
            return None
        return block

    def hit(self, key: str) -> bool:
        """Count one request from `key`; True when it takes the count over the limit.

        Going over resets the count, so a caller that blocks the address starts it afresh after
        the block, and a report-only caller sees one report per `limit` excess requests.
        """
        now = self._clock()
        bucket = math.floor(now / self._bucket_seconds)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = _Counter()
            if len(self._counters) > self._max_tracked:
                self._counters.popitem(last=False)
        else:
            buckets = counter.buckets
            if buckets and buckets[-1][0] == bucket:
                # Still the newest bucket: counted, and the address is already among the most
                # recent ones (it moved there when this bucket began), so the LRU order holds
                # to within a bucket's width.
                buckets[-1][1] += 1
                counter.total += 1
                if counter.total <= self.limit:
                    return False
                del self._counters[key]
                return True
            self._counters.move_to_end(key)
        if counter.add(bucket, bucket - BUCKETS - 1) <= self.limit:
            return False
        del self._counters[key]
        return True

    @property
    def reason(self) -> str:
        return f"more than {self.limit} requests in {self.window_seconds:g} s"

    def block(self, key: str, seconds: float | None = None, reason: str | None = None) -> Block:
        seconds = self.block_seconds if seconds is None else seconds
        block = Block(key, self._clock() + seconds, reason or self.reason)
        self._blocks.pop(key, None)
        self._blocks[key] = block
        if len(self._blocks) > self._max_tracked:
            self._prune()
            if len(self._blocks) > self._max_tracked:
                self._blocks.popitem(last=False)
        return block

    def unblock(self, key: str) -> bool:
        self._counters.pop(key, None)
        return self._blocks.pop(key, None) is not None

    def active_blocks(self) -> Iterator[Block]:
        self._prune()
        return iter(list(self._blocks.values()))

    def remaining(self, block: Block) -> float:
        return max(0.0, block.until - self._clock())

    def _prune(self) -> None:
        now = self._clock()
        for key in [key for key, block in self._blocks.items() if block.until <= now]:
            del self._blocks[key]
