"""Retries with exponential backoff and full jitter, within a budget (Finagle/Envoy style).

Every first attempt deposits `budget_ratio` of a token; a retry spends one. So retries add at
most that fraction of extra load to an upstream that is already failing, instead of multiplying
it during an outage. A small floor lets a quiet upstream still get its first retries.
"""

from __future__ import annotations

import random

from services.gateway.routing.table import Retries

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_FLOOR = 3.0
_CAP = 100.0


class RetryBudget:
    def __init__(self) -> None:
        self._tokens = _FLOOR

    def deposit(self, ratio: float) -> None:
        self._tokens = min(_CAP, self._tokens + ratio)

    def available(self) -> bool:
        return self._tokens >= 1.0

    def withdraw(self) -> bool:
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


def backoff_seconds(policy: Retries, attempt: int, rng: random.Random | None = None) -> float:
    """Full jitter: uniform in [0, min(max, base * 2**attempt)] (attempt counts from 0)."""
    ceiling = min(policy.backoff_max_ms, policy.backoff_base_ms * (2**attempt)) / 1000
    return (rng or random).uniform(0.0, ceiling)
