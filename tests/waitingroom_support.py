"""Start waiting room replicas in the test's event loop, with a hand-driven clock and ticks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from services.waitingroom.app import CONTROLLER, OWNERSHIP, init_app
from services.waitingroom.keys import CONTEXT
from services.waitingroom.settings import WaitingroomSettings
from services.waitingroom.state import ZoneState
from services.waitingroom.tokens import SigningKey, pem_of
from shared.bus.base import Bus
from shared.http.app import BusFactory, kafka_bus
from shared.security import issue_hs256
from shared.settings import PlatformSettings
from tests.identity_support import anonymous, as_user

JWT_SECRET = "waitingroom-test-secret-long-enough-hs256"
ADMIN_TOKEN = "waitingroom-admin-token-for-tests"
SIGNING_PEM = pem_of(SigningKey.generate().private)
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
T0 = 1_900_000_000.0


class ManualClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def never() -> None:
    """A ticker that never fires: the test calls `controller.tick()` itself."""
    await asyncio.Event().wait()


def user(sub: str, **claims: Any) -> dict[str, str]:
    """The signed-in user `sub`, as the gateway signs them for the waiting room."""
    return as_user("waitingroom", sub, **claims)


def bearer(sub: str, **claims: Any) -> dict[str, str]:
    """A user JWT as a client sends it to the gateway (which verifies it and signs the user)."""
    return {"Authorization": f"Bearer {page_token(sub, **claims)}"}


def page_token(sub: str, **claims: Any) -> str:
    """A user JWT (HS256, AUTH_JWT_SECRET) as a client presents it."""
    return issue_hs256({"sub": sub, **claims}, JWT_SECRET, 3600)


def zone_body(zone: str = "show", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": zone,
        "capacity": 10,
        "max_active": 3,
        "admit_per_minute": 60,
        "session_ttl": 120,
        "position_ttl": 600,
    }
    body.update(overrides)
    return body


@dataclass
class Replica:
    app: web.Application
    http: TestClient[web.Request, web.Application]
    clock: ManualClock

    def zone(self, zone: str = "show") -> ZoneState:
        return self.app[CONTEXT].room.zones[zone]

    async def tick(self) -> None:
        await self.app[CONTROLLER].tick()

    @property
    def owned(self) -> set[int]:
        return self.app[OWNERSHIP].owned

    async def create(self, zone: str = "show", **overrides: Any) -> dict[str, Any]:
        response = await self.http.post(
            "/waitingroom/admin/zones", json=zone_body(zone, **overrides), headers=ADMIN
        )
        assert response.status == 201, await response.text()
        body: dict[str, Any] = await response.json()
        return body

    async def call(
        self, method: str, path: str, sub: str | None = None, expect: int = 200, **kw: Any
    ) -> dict[str, Any]:
        headers = user(sub) if sub else kw.pop("headers", {})
        response = await self.http.request(method, path, headers=headers, **kw)
        assert response.status == expect, await response.text()
        if response.status == 204:
            return {}
        body: dict[str, Any] = await response.json()
        return body

    async def join(self, sub: str, zone: str = "show", expect: int = 201) -> dict[str, Any]:
        return await self.call("POST", f"/waitingroom/zones/{zone}/join", sub, expect)

    async def status(self, sub: str, zone: str = "show") -> dict[str, Any]:
        return await self.call("GET", f"/waitingroom/zones/{zone}/status", sub)


def settings(platform: PlatformSettings | None = None, **overrides: Any) -> WaitingroomSettings:
    platform = (platform or PlatformSettings()).model_copy(
        update={"auth_jwt_secret": SecretStr(JWT_SECRET), "admin_token": SecretStr(ADMIN_TOKEN)}
    )
    values: dict[str, Any] = {
        "signing_key": SecretStr(SIGNING_PEM),
        "metrics_seconds": 3600.0,
        "apply_timeout_seconds": 15.0,
        "platform": platform,
        **overrides,
    }
    return WaitingroomSettings(**values)


@asynccontextmanager
async def running_waitingroom(
    bus: Bus | Literal["kafka"],
    platform: PlatformSettings | None = None,
    clock: ManualClock | None = None,
    **overrides: Any,
) -> AsyncIterator[Replica]:
    factory: BusFactory = kafka_bus if bus == "kafka" else (lambda _p, _s: bus)
    clock = clock or ManualClock()
    app = await init_app(settings(platform, **overrides), bus=factory, clock=clock, ticker=never)
    # Every request comes as through the gateway: with a signed (anonymous) caller, which
    # `user(...)` or `as_service(...)` headers replace.
    async with TestClient(TestServer(app), headers=anonymous("waitingroom")) as http:
        yield Replica(app, http, clock)
