"""Helpers for the auth / limits / metering tests: fake time, routes, requests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry

from services.gateway.components import Components, open_components
from services.gateway.request import ClientInfo, Request
from services.gateway.routing.table import Route
from services.gateway.settings import GatewaySettings
from shared.http.identity import Identities
from shared.store import Store


class FakeTime:
    """A monotonic clock plus an `asyncio.sleep` stand-in that only `advance` wakes."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    @property
    def sleepers(self) -> int:
        return sum(1 for _, future in self._sleepers if not future.done())

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, future))
        await future

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for due, future in self._sleepers:
            if due <= self.now + 1e-9 and not future.done():
                future.set_result(None)
        self._sleepers = [(due, f) for due, f in self._sleepers if not f.done()]

    async def until_sleeping(self, count: int) -> None:
        """Let the event loop run until `count` sleepers wait (no wall-clock timing)."""
        async with asyncio.timeout(2):
            while self.sleepers < count:
                await asyncio.sleep(0)


class WallClock:
    """An injectable UTC wall clock for quota periods."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass(frozen=True)
class LimitTestSettings:
    limits_max_tracked: int = 1000
    limits_queue_max: int = 10


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def route(**fields: Any) -> Route:
    return Route.model_validate({"id": "r", "prefix": "/", "upstream": "up", **fields})


def request(
    headers: dict[str, str] | None = None,
    *,
    ip: str = "198.51.100.7",
    path: str = "/x",
    method: str = "GET",
    proto: str = "http",
) -> Request:
    """A request view as the data plane builds it from a parsed head."""
    raw = [(name.encode(), value.encode()) for name, value in (headers or {}).items()]
    return Request(method, path, raw, client=ClientInfo(ip, proto, ip))


class CountingCollection:
    """Wraps a collection and counts find_one calls (to prove what the cache saves)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.find_one_calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def find_one(self, *args: Any, **kwargs: Any) -> Any:
        self.find_one_calls += 1
        return await self.inner.find_one(*args, **kwargs)


@asynccontextmanager
async def components(store: Store, **parts: Any) -> AsyncIterator[Components]:
    """The gateway's real components over the test's database (no bus), as the app builds them."""
    settings = GatewaySettings()
    async with (
        aiohttp.ClientSession() as session,
        open_components(
            settings,
            db=store.db,
            bus=None,
            session=session,
            registry=CollectorRegistry(),
            identities=Identities(settings.platform, "gateway", verify_requests=False),
            **parts,
        ) as built,
    ):
        yield built
