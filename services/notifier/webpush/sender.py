"""One message to one push endpoint (RFC 8030): POST, then retry, prune or give up.

429 and 5xx (and network errors) are retried with exponential backoff and jitter, honouring
Retry-After; 404/410 mean the subscription is gone; any other 4xx will not get better by
retrying. The semaphore bounds requests in flight across all deliveries, and is released while
a delivery waits to retry so a slow push service cannot hold every slot asleep.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import aiohttp

from services.notifier.webpush import metrics as m

log = logging.getLogger("services.notifier.webpush")

MAX_BACKOFF_SECONDS = 60.0
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Policy:
    max_attempts: int
    backoff_seconds: float
    max_retry_after_seconds: float
    timeout_seconds: float


@dataclass(frozen=True)
class Result:
    outcome: str
    status: int | None
    attempts: int


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when: float = parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - now)


def backoff(attempt: int, base: float) -> float:
    """Exponential with "equal jitter": between half and all of base * 2^(attempt-1)."""
    ceiling = min(MAX_BACKOFF_SECONDS, base * 2.0 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


class Sender:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        policy: Policy,
        slots: asyncio.Semaphore,
        metrics: m.WebPushMetrics,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._session, self._policy, self._slots = session, policy, slots
        self._metrics, self._sleep, self._clock = metrics, sleep, clock

    async def send(self, endpoint: str, body: bytes, headers: dict[str, str]) -> Result:
        policy = self._policy
        timeout = aiohttp.ClientTimeout(total=policy.timeout_seconds)
        status: int | None = None
        for attempt in range(1, policy.max_attempts + 1):
            wait: float | None = None
            try:
                async with (
                    self._slots,
                    self._session.post(
                        endpoint, data=body, headers=headers, timeout=timeout, allow_redirects=False
                    ) as response,
                ):
                    status = response.status
                    await response.read()  # drain, so the connection can be reused
                    wait = retry_after(response.headers.get("Retry-After"), self._clock())
            except (aiohttp.ClientError, TimeoutError) as exc:
                status = None
                log.info("webpush attempt %d to %s failed: %r", attempt, _host(endpoint), exc)
            if status is not None and 200 <= status < 300:
                return Result(m.DELIVERED, status, attempt)
            if status in (404, 410):
                return Result(m.GONE, status, attempt)
            if status is not None and status != 429 and status < 500:
                log.warning("webpush refused by %s: HTTP %d", _host(endpoint), status)
                return Result(m.REJECTED, status, attempt)
            if attempt == policy.max_attempts:
                break
            if wait is not None and wait > policy.max_retry_after_seconds:
                log.warning("webpush %s asks to wait %.0f s: giving up", _host(endpoint), wait)
                return Result(m.THROTTLED, status, attempt)
            self._metrics.retries.labels(str(status) if status is not None else "error").inc()
            await self._sleep(
                wait if wait is not None else backoff(attempt, policy.backoff_seconds)
            )
        log.warning("webpush to %s failed after %d attempts", _host(endpoint), policy.max_attempts)
        return Result(m.FAILED, status, policy.max_attempts)


def _host(endpoint: str) -> str:
    """Endpoints are capabilities (anyone holding one can push): log only their host."""
    return endpoint.split("/")[2] if endpoint.count("/") >= 2 else "?"
