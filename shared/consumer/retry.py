"""Retry timing: capped exponential backoff with full jitter.

Full jitter (delay drawn uniformly from [0, min(max_delay, base_delay * 2**(attempt-1))])
spreads the retries of many consumers that failed together, so a recovering dependency is
not hit by synchronized waves (AWS Architecture Blog, "Exponential Backoff And Jitter").
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# 2**60 times any sane base delay already exceeds every cap; bounding the exponent keeps
# the float arithmetic finite for absurd attempt numbers.
_MAX_EXPONENT = 60


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    """Handler runs at most this many times (1 = no retry) before the record is dead-lettered."""
    base_delay: float = 0.2
    max_delay: float = 10.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError("need 0 <= base_delay <= max_delay")

    def ceiling(self, attempt: int) -> float:
        """The largest delay after failed attempt number `attempt` (1-based)."""
        if attempt < 1:
            raise ValueError("attempt is 1-based")
        exponent = min(attempt - 1, _MAX_EXPONENT)
        return float(min(self.max_delay, self.base_delay * 2.0**exponent))

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt `attempt` before the next one."""
        return rng.uniform(0.0, self.ceiling(attempt))
