"""A token bucket on a monotonic clock, refilled lazily (no timers), plus a bounded map of them.

`tokens` may go negative: a queued request *reserves* a future token (`reserve`) and sleeps
until it is due. Reservations are served in arrival order, because each one pushes the next
further into the future, which makes the queue FIFO without any explicit list; `refund` gives
a reservation back when the request is refused elsewhere or its client goes away.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from services.gateway.limits.policy import EPSILON, Limit, PolicyState, ceil_seconds


class TokenBucket:
    __slots__ = ("burst", "rate", "stamp", "tokens", "waiting")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now
        self.waiting = 0  # queued requests holding a reservation

    def configure(self, rate: float, burst: float, now: float) -> None:
        """Apply new settings (a route table or plan change) without resetting the level."""
        if (rate, burst) != (self.rate, self.burst):
            self.refill(now)
            self.rate, self.burst = rate, burst
            self.tokens = min(self.tokens, burst)

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def wait_time(self, now: float) -> float:
        """Seconds until one token is available (0 when one is there now)."""
        self.refill(now)
        missing = 1.0 - self.tokens
        return 0.0 if missing <= EPSILON else missing / self.rate

    def try_take(self, now: float) -> bool:
        if self.wait_time(now) > 0:
            return False
        self.tokens -= 1.0
        return True

    def reserve(self, now: float) -> float:
        """Take a token now or in the future; returns the seconds until it is due."""
        wait = self.wait_time(now)
        self.tokens -= 1.0
        return wait

    def refund(self) -> None:
        self.tokens = min(self.burst, self.tokens + 1.0)

    def remaining(self, now: float) -> float:
        self.refill(now)
        return max(0.0, self.tokens)

    def full_in(self, now: float) -> float:
        """Seconds until the bucket is full again (the RateLimit `t` parameter)."""
        self.refill(now)
        return max(0.0, self.burst - self.tokens) / self.rate


class BucketMap:
    """Buckets by key (client IP, API key id), LRU-bounded so a flood of distinct keys cannot
    grow memory. An evicted bucket comes back full; with `max_size` well above the number of
    active callers that only happens to idle ones."""

    def __init__(self, max_size: int, clock: Callable[[], float]) -> None:
        self._max = max_size
        self._clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def get(self, key: str, rate: float, burst: float) -> TokenBucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(rate, burst, now)
            while len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.configure(rate, burst, now)
        return bucket


@dataclass
class Level:
    """One bucket a request must pass: global, route, key or ip."""

    name: str
    bucket: TokenBucket  # this process's share
    limit: Limit  # as configured, cluster-wide
    where: str  # for the 429 detail

    def describe(self) -> str:
        return f"{self.where} of {self.limit.rate:g} requests/s (burst {self.limit.burst})"

    def state(self, now: float, workers: int, *, exhausted: bool = False) -> PolicyState:
        """The RateLimit view: cluster-wide numbers, tokens left scaled by the worker count."""
        bucket, limit = self.bucket, self.limit
        bucket.refill(now)  # once: remaining() and full_in() would each refill again
        tokens = bucket.tokens if bucket.tokens > 0.0 else 0.0
        burst, left = limit.burst, tokens * workers
        return PolicyState(
            self.name,
            burst,
            max(1, math.ceil(burst / limit.rate)),
            0 if exhausted else min(burst, math.floor(left + EPSILON)),
            ceil_seconds(max(0.0, bucket.burst - bucket.tokens) / bucket.rate),
        )
