"""Start notifier replicas in the test's event loop and talk to them like a client would."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from websockets.asyncio.client import ClientConnection, connect

from services.notifier.app import init_app
from services.notifier.keys import CONTEXT, WS_SERVER
from services.notifier.settings import NotifierSettings
from shared.bus.base import Bus
from shared.http.app import BusFactory, kafka_bus
from shared.security import issue_hs256
from shared.settings import PlatformSettings
from tests.identity_support import anonymous, as_user

JWT_SECRET = "notifier-test-secret-long-enough-for-hs256-0"
SERVICE_TOKEN = "notifier-service-token-for-tests"


def token(sub: str, ttl: float = 300.0, **claims: Any) -> str:
    return issue_hs256({"sub": sub, **claims}, JWT_SECRET, ttl)


def service_headers(value: str = SERVICE_TOKEN) -> dict[str, str]:
    """A backend with the service token, through the gateway (which signs it anonymous)."""
    return {"Authorization": f"Bearer {value}", **anonymous("notifier")}


def user_headers(sub: str, **claims: Any) -> dict[str, str]:
    """A signed-in user calling the notifier's HTTP API, as the gateway signs them."""
    return as_user("notifier", sub, **claims)


def open_socket(url: str, **options: Any) -> connect:
    """A WebSocket to the notifier as the gateway's /ws route opens it (with a signed caller)."""
    return connect(url, additional_headers=anonymous("notifier"), **options)


@dataclass
class Replica:
    app: web.Application
    http: TestClient[web.Request, web.Application]

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.app[WS_SERVER].port}/ws"

    @property
    def hub_sessions(self) -> int:
        return len(self.app[CONTEXT].hub.sessions)

    async def publish(self, channel: str, event: str = "note", **data: Any) -> dict[str, Any]:
        body = {"channel": channel, "event": event, "data": data}
        response = await self.http.post("/notifier/publish", json=body, headers=service_headers())
        assert response.status == 202, await response.text()
        result: dict[str, Any] = await response.json()
        return result


def settings(platform: PlatformSettings | None = None, **overrides: Any) -> NotifierSettings:
    platform = platform or PlatformSettings()
    platform = platform.model_copy(update={"auth_jwt_secret": SecretStr(JWT_SECRET)})
    values: dict[str, Any] = {
        "ws_port": 0,
        "service_token": SecretStr(SERVICE_TOKEN),
        "presence_heartbeat_seconds": 1.0,
        "jobs_digest_delay_seconds": 0.05,
        "platform": platform,
        **overrides,
    }
    return NotifierSettings(**values)


@asynccontextmanager
async def running_notifier(
    bus: Bus | Literal["kafka"], platform: PlatformSettings | None = None, **overrides: Any
) -> AsyncIterator[Replica]:
    """A replica on `bus` (an in-memory bus shared by the test) or on Kafka (`platform`)."""
    factory: BusFactory = kafka_bus if bus == "kafka" else (lambda _p, _s: bus)
    app = await init_app(settings(platform, **overrides), bus=factory)
    # Every request comes as through the gateway: with a signed (anonymous) caller, which a
    # test replaces with `user_headers` / `as_service` where someone is signed in.
    async with TestClient(TestServer(app), headers=anonymous("notifier")) as http:
        yield Replica(app, http)


async def recv_json(ws: ClientConnection, within: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(within):
        raw = await ws.recv()
    message: dict[str, Any] = json.loads(raw)
    return message


async def recv_until(ws: ClientConnection, kind: str, within: float = 5.0) -> dict[str, Any]:
    """Skip messages until one of `type == kind` arrives."""
    async with asyncio.timeout(within):
        while True:
            message = await recv_json(ws, within)
            if message["type"] == kind:
                return message


@asynccontextmanager
async def client(
    url: str, sub: str | None = "alice", *, via: str = "message", **claims: Any
) -> AsyncIterator[ClientConnection]:
    """A connected client; authenticated as `sub` (by message or subprotocol) unless None."""
    protocols = None
    if sub is not None and via == "subprotocol":
        protocols = ["surge.v1", f"bearer.{token(sub, **claims)}"]
    async with open_socket(url, subprotocols=protocols, open_timeout=5) as ws:
        if sub is not None:
            if via == "message":
                await ws.send(json.dumps({"type": "auth", "token": token(sub, **claims)}))
            welcome = await recv_json(ws)
            assert welcome["type"] == "welcome", welcome
            assert (await recv_json(ws))["type"] == "subscribed"
        yield ws


async def send(ws: ClientConnection, **message: Any) -> None:
    await ws.send(json.dumps(message))
