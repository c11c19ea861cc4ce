"""A circuit breaker per upstream, like Envoy's outlier detection plus Hystrix's half-open probe.

Closed: requests flow; the breaker opens after `consecutive_failures` failures in a row, or when
the error rate over the last `window_seconds` reaches `error_rate` with at least `min_requests`.
Open: requests fail at once with 503 and Retry-After, sparing the struggling upstream.
Half-open after `open_seconds`: up to `half_open_probes` requests go through; one success closes
the breaker, one failure opens it again.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from enum import StrEnum

from services.gateway.routing.table import CircuitBreaker

Clock = Callable[[], float]


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Breaker:
    def __init__(self, config: CircuitBreaker, clock: Clock = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._state = State.CLOSED
        self._consecutive = 0
        self._outcomes: deque[tuple[float, bool]] = deque()
        self._failures = 0  # failures in `_outcomes`, kept as they come and go: O(1) per record
        self._opened_at = 0.0
        self._probes = 0

    @property
    def state(self) -> State:
        if (
            self._state is State.OPEN
            and self._clock() - self._opened_at >= self.config.open_seconds
        ):
            self._state = State.HALF_OPEN
            self._probes = 0
        return self._state

    def retry_after(self) -> float:
        return max(0.0, self.config.open_seconds - (self._clock() - self._opened_at))

    def allow(self) -> bool:
        """Ask before each attempt; an allowed attempt must be followed by `record`."""
        state = self.state
        if state is State.CLOSED:
            return True
        if state is State.HALF_OPEN and self._probes < self.config.half_open_probes:
            self._probes += 1
            return True
        return False

    def record(self, ok: bool) -> None:
        now = self._clock()
        if self._state is State.HALF_OPEN:
            self._probes = max(0, self._probes - 1)
            if ok:
                self._close()
            else:
                self._open(now)
            return
        if self._state is State.OPEN:
            return
        self._consecutive = 0 if ok else self._consecutive + 1
        self._outcomes.append((now, ok))
        self._failures += not ok
        horizon = now - self.config.window_seconds
        outcomes = self._outcomes
        while outcomes and outcomes[0][0] < horizon:
            self._failures -= not outcomes.popleft()[1]
        if self._consecutive >= self.config.consecutive_failures or self._rate_tripped():
            self._open(now)

    def _rate_tripped(self) -> bool:
        total = len(self._outcomes)
        if total < self.config.min_requests:
            return False
        return self._failures / total >= self.config.error_rate

    def _open(self, now: float) -> None:
        self._state = State.OPEN
        self._opened_at = now
        self._outcomes.clear()
        self._failures = 0
        self._consecutive = 0

    def _close(self) -> None:
        self._state = State.CLOSED
        self._outcomes.clear()
        self._failures = 0
        self._consecutive = 0
