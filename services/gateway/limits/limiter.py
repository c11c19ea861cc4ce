"""Throttling: token buckets at four levels plus per-key quotas, decided in `Limiter.admit`.

Levels (each optional): `global` (RouteTable.global_rate_limit), `route` (Route.rate_limit),
`key` (the API key's usage plan, shared by all routes), `user` (Route.user_plan: a usage plan
applied per signed-in user on that route, its quotas counted per user) and `ip`
(Route.ip_rate_limit, for anonymous callers only; identified callers are limited by their key
or plan). A request needs one token from every level that applies; it takes them all or none.

Queue instead of reject: when a level that applies has `queue_timeout_seconds` > 0 and every
bucket will have a token within that time, the request reserves the tokens now and waits until
they are due (FIFO: each reservation pushes the next one later). If the wait would exceed the
timeout, or a bucket already has `limits_queue_max` waiters, the 429 comes at once, with the
exact Retry-After, rather than after a pointless wait. A cancelled wait (client gone) gives
its tokens back.

Several workers / replicas: buckets are local to a process, so each uses `rate / workers` and
`burst / workers` (never below one token). With SO_REUSEPORT spreading connections evenly the
cluster then admits about the configured rate; a caller whose traffic is pinned to a single
keep-alive connection gets 1/workers of it. Quotas are shared through the store (quotas.py).

Headers: one RateLimit-Policy item per level and quota, `RateLimit` for the most restrictive
one (format and meaning in limitheaders.py). A bucket reads q=burst per w=ceil(burst/rate)
seconds, r = tokens left scaled back to the cluster (tokens x workers), t = seconds until full.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter

from services.gateway.auth.identity import Identity
from services.gateway.limits.bucket import BucketMap, Level, TokenBucket
from services.gateway.limits.headers import (
    QUOTA_EXCEEDED,
    Admission,
    quota_policies,
    too_many_requests,
)
from services.gateway.limits.plans import PlanStore
from services.gateway.limits.policy import ceil_seconds
from services.gateway.limits.quotas import QuotaExceededError, Quotas, Reservation
from services.gateway.request import Request
from services.gateway.routing.table import Bucket, Route
from shared.http.problems import Problem

__all__ = ["Admission", "Limiter", "LimiterSettings"]

Sleep = Callable[[float], Awaitable[None]]
ClientIp = Callable[[Request], str]


# The 429 detail names the level; formatted once per route, not on every admitted request.
@functools.lru_cache(maxsize=1024)
def _route_limit(route_id: str) -> str:
    return f"the limit of route {route_id!r}"


@functools.lru_cache(maxsize=1024)
def _client_limit(route_id: str) -> str:
    return f"the per-client limit of route {route_id!r}"


class LimiterSettings(Protocol):
    @property
    def limits_max_tracked(self) -> int: ...
    @property
    def limits_queue_max(self) -> int: ...


class Limiter:
    def __init__(
        self,
        settings: LimiterSettings,
        *,
        plans: PlanStore,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
        workers: int = 1,
        quotas: Quotas | None = None,
        sleep: Sleep = asyncio.sleep,
        client_ip: ClientIp = lambda request: request.client.address,
    ) -> None:
        self.plans = plans
        self.quotas = quotas if quotas is not None else Quotas()
        self.workers = max(1, workers)
        self._clock, self._sleep, self._client_ip = clock, sleep, client_ip
        self._queue_max = settings.limits_queue_max
        self._global: TokenBucket | None = None
        self._routes: dict[str, TokenBucket] = {}
        self._keys = BucketMap(settings.limits_max_tracked, clock)
        self._ips = BucketMap(settings.limits_max_tracked, clock)
        registry = registry if registry is not None else CollectorRegistry()
        self.throttled = Counter(
            "gateway_throttled", "429s by level.", ["level"], registry=registry
        )
        self.queued = Counter(
            "gateway_queued", "Requests that waited for a token.", registry=registry
        )

    def split(self, rate: float, burst: float) -> tuple[float, float]:
        """This process's share of a cluster-wide limit."""
        return rate / self.workers, max(1.0, burst / self.workers)

    def _bucket(self, current: TokenBucket | None, rate: float, burst: float) -> TokenBucket:
        now = self._clock()
        if current is None:
            return TokenBucket(rate, burst, now)
        current.configure(rate, burst, now)
        return current

    async def _levels(
        self, request: Request, route: Route, identity: Identity, glob: Bucket | None
    ) -> tuple[list[Level], dict[str, int], str | None]:
        levels: list[Level] = []
        if glob is not None:
            self._global = self._bucket(self._global, *self.split(glob.rate, glob.burst))
            levels.append(Level("global", self._global, glob, "the gateway-wide limit"))
        if (limit := route.rate_limit) is not None:
            bucket = self._bucket(self._routes.get(route.id), *self.split(limit.rate, limit.burst))
            self._routes[route.id] = bucket
            levels.append(Level("route", bucket, limit, _route_limit(route.id)))
        quotas: dict[str, int] = {}
        counted: str | None = None  # whose quotas: the API key, or the user on this plan
        if identity.key_id is not None:
            plan = await self.plans.resolve(identity.plan_id)
            quotas, counted = plan.quotas(), identity.key_id
            bucket = self._keys.get(identity.key_id, *self.split(plan.rate, plan.burst))
            where = f"usage plan {plan.id!r} of API key {identity.key_id}"
            levels.append(Level("key", bucket, plan, where))
        elif route.user_plan is not None and identity.kind == "jwt" and identity.subject:
            plan = await self.plans.resolve(route.user_plan)
            quotas, counted = plan.quotas(), f"user:{plan.id}:{identity.subject}"
            bucket = self._keys.get(counted, *self.split(plan.rate, plan.burst))
            where = f"usage plan {plan.id!r} of user {identity.subject}"
            levels.append(Level("user", bucket, plan, where))
        elif identity.anonymous and (limit := route.ip_rate_limit) is not None:
            key = f"{route.id}|{self._client_ip(request)}"
            bucket = self._ips.get(key, *self.split(limit.rate, limit.burst))
            levels.append(Level("ip", bucket, limit, _client_limit(route.id)))
        return levels, quotas, counted

    async def admit(
        self,
        request: Request,
        route: Route,
        identity: Identity,
        *,
        global_limit: Bucket | None = None,
    ) -> Admission:
        """Admit the request (maybe after queueing) or raise Problem(429)."""
        levels, limits, counted = await self._levels(request, route, identity, global_limit)
        reservation = Reservation()
        if limits and counted is not None:
            try:
                reservation = await self.quotas.reserve(counted, limits)
            except QuotaExceededError as exc:
                raise self._quota_problem(counted, exc) from None
        try:
            waited = await self._take(levels)
        except BaseException:
            self.quotas.refund(reservation)
            raise
        now = self._clock()
        workers = self.workers
        policies = tuple([level.state(now, workers) for level in levels])
        if reservation.states:  # (reading the wall clock for quotas only when there are some)
            policies += quota_policies(reservation.states, self.quotas.now())
        return Admission(policies, waited)

    async def _take(self, levels: list[Level]) -> float:
        now = self._clock()
        waits = [(level.bucket.wait_time(now), level) for level in levels]
        if all(wait == 0 for wait, _ in waits):
            for level in levels:
                level.bucket.reserve(now)
            return 0.0
        wait, worst = max(waits, key=lambda item: item[0])
        timeout = max(level.limit.queue_timeout_seconds for level in levels)
        crowded = any(w > 0 and lv.bucket.waiting >= self._queue_max for w, lv in waits)
        if wait > timeout or crowded:
            raise self._rate_problem(levels, worst, wait, now)
        self.queued.inc()
        for level in levels:
            level.bucket.reserve(now)
            level.bucket.waiting += 1
        try:
            await self._sleep(wait)
        except BaseException:  # cancelled: the client went away, free its place
            for level in levels:
                level.bucket.refund()
            raise
        finally:
            for level in levels:
                level.bucket.waiting -= 1
        return wait

    def _rate_problem(self, levels: list[Level], worst: Level, wait: float, now: float) -> Problem:
        retry = max(1, ceil_seconds(wait))
        self.throttled.labels(worst.name).inc()
        return too_many_requests(
            f"Too many requests: {worst.describe()} is exhausted; retry in {retry} s.",
            limit=worst.name,
            retry_after=retry,
            policies=[lv.state(now, self.workers, exhausted=lv is worst) for lv in levels],
        )

    def _quota_problem(self, counted: str, exc: QuotaExceededError) -> Problem:
        period, limit = exc.state.period, exc.state.limit
        self.throttled.labels(f"quota-{period}").inc()
        whose = (
            f"user {counted.split(':', 2)[2]}"
            if counted.startswith("user:")
            else (f"API key {counted}")
        )
        return too_many_requests(
            f"The {period} quota of {limit} requests for {whose} is used up; "
            f"it resets at {exc.state.end.isoformat()}.",
            limit=f"quota-{period}",
            retry_after=exc.retry_after,
            policies=quota_policies(exc.states, self.quotas.now()),
            type_=QUOTA_EXCEEDED,
        )
