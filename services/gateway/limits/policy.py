"""The policy types every limits module shares (a leaf: it imports no other gateway module).

`PolicyState` is one RateLimit policy as the headers show it, `Limit` what a token bucket is
configured from (a route-table Bucket or a usage plan), `QuotaState` a quota period's count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

EPSILON = 1e-9  # float refill arithmetic must not turn "exactly one token" into 0.999...


class PolicyState(NamedTuple):  # a tuple: built for every level of every request
    name: str  # global | route | key | ip | quota-day | quota-week | quota-month
    quota: int  # q
    window: int  # w, seconds
    remaining: int  # r
    reset: int  # t, seconds


def ceil_seconds(seconds: float) -> int:
    """Whole seconds for headers, rounded up (a client retrying then will find a token)."""
    return max(0, math.ceil(seconds - EPSILON))


class Limit(Protocol):
    """A route-table Bucket or a UsagePlan: both read the same."""

    @property
    def rate(self) -> float: ...
    @property
    def burst(self) -> int: ...
    @property
    def queue_timeout_seconds(self) -> float: ...


@dataclass(frozen=True)
class QuotaState:
    period: str
    limit: int
    used: int
    start: datetime
    end: datetime

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def window_seconds(self) -> int:
        return int((self.end - self.start).total_seconds())

    def reset_in(self, now: datetime) -> int:
        return max(1, ceil_seconds((self.end - now).total_seconds()))
