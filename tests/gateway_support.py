"""Start a gateway (public data plane + admin app) in front of a real upstream, in the test's
event loop."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.client import _RequestContextManager, _WSRequestContextManager
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from services.gateway.app import init_admin, init_app, serve_public
from services.gateway.components import COMPONENTS, Components
from services.gateway.dataplane.server import Plane
from services.gateway.settings import GatewaySettings
from shared.bus.memory import MemoryBus
from shared.http.app import BusFactory
from shared.http.identity import IDENTITY_HEADER, IDENTITY_PREFIX
from shared.security.identity import Caller, IdentityVerifier
from shared.settings import PlatformSettings
from tests.identity_support import KEYS

JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-000"
ADMIN_TOKEN = "admin-token-for-tests"


@dataclass
class Upstream:
    hits: dict[str, int] = field(default_factory=dict)
    flaky_failures: int = 2
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    download_started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    app: web.Application = field(default_factory=web.Application)

    def __post_init__(self) -> None:
        self.app.router.add_route("*", "/echo{tail:.*}", self.echo)
        self.app.router.add_post("/upload", self.upload)
        self.app.router.add_get("/download", self.download)
        self.app.router.add_get("/slow", self.slow)
        self.app.router.add_route("*", "/flaky", self.flaky)
        self.app.router.add_get("/fail", self.fail)
        self.app.router.add_get("/gzip", self.gzip)
        self.app.router.add_get("/ws", self.websocket)
        self.app.router.add_get("/status", self.status)
        self.app.router.add_get("/delay", self.delay)

    def _hit(self, name: str) -> None:
        self.hits[name] = self.hits.get(name, 0) + 1

    async def echo(self, request: web.Request) -> web.Response:
        self._hit("echo")
        body = await request.read()
        return web.json_response(
            {
                "method": request.method,
                "path": request.path,
                "query": request.query_string,
                "headers": {k.lower(): v for k, v in request.headers.items()},
                "body": body.decode(errors="replace"),
            }
        )

    async def upload(self, request: web.Request) -> web.Response:
        digest, size = hashlib.sha256(), 0
        async for chunk in request.content.iter_any():
            digest.update(chunk)
            size += len(chunk)
        return web.json_response(
            {
                "sha256": digest.hexdigest(),
                "bytes": size,
                "chunked": request.headers.get("Transfer-Encoding"),
            }
        )

    async def download(self, request: web.Request) -> web.StreamResponse:
        size = int(request.query.get("bytes", "0"))
        response = web.StreamResponse()
        await response.prepare(request)
        chunk = b"x" * 65536
        sent = 0
        if "hold" in request.query:
            self.download_started.set()
            await self.release.wait()
        while sent < size:
            part = chunk[: min(len(chunk), size - sent)]
            await response.write(part)
            sent += len(part)
        await response.write_eof()
        return response

    async def slow(self, request: web.Request) -> web.Response:
        self._hit("slow")
        await asyncio.Event().wait()
        return web.Response()

    async def flaky(self, request: web.Request) -> web.Response:
        self._hit("flaky")
        if self.hits["flaky"] <= self.flaky_failures:
            return web.Response(status=503, text="try again")
        return web.Response(text="ok")

    async def fail(self, request: web.Request) -> web.Response:
        self._hit("fail")
        return web.Response(status=502, text="broken")

    async def gzip(self, request: web.Request) -> web.Response:
        import gzip

        return web.Response(
            body=gzip.compress(b"hello " * 100),
            headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"},
        )

    async def status(self, request: web.Request) -> web.Response:
        code = int(request.query["code"])
        if code in (204, 304):
            return web.Response(status=code)
        return web.Response(status=code, text=f"status {code}")

    async def delay(self, request: web.Request) -> web.Response:
        """Answers after `ms` milliseconds: a later pipelined request may be faster."""
        await asyncio.sleep(int(request.query.get("ms", "0")) / 1000)
        return web.Response(text=request.query_string)

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("chat.v1",))
        await ws.prepare(request)
        while True:
            message = await ws.receive()
            if message.type is WSMsgType.CLOSE:
                self.hits["ws_close_code"] = message.data
                self.closed.set()
                break
            if message.type is not WSMsgType.TEXT:
                break
            if message.data.startswith("close:"):
                _, code, reason = message.data.split(":", 2)
                await ws.close(code=int(code), message=reason.encode())
                break
            await ws.send_str("echo:" + message.data)
        return ws


class PlaneClient:
    """What the tests ask the public port, as aiohttp's TestClient would (responses are read by
    the test; the session closes them at the end)."""

    def __init__(self, session: aiohttp.ClientSession, host: str, port: int) -> None:
        self.session = session
        self.host = host
        self.port = port

    def request(self, method: str, path: str, **kwargs: Any) -> _RequestContextManager:
        return self.session.request(method, path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> _RequestContextManager:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> _RequestContextManager:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> _RequestContextManager:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> _RequestContextManager:
        return self.request("DELETE", path, **kwargs)

    def options(self, path: str, **kwargs: Any) -> _RequestContextManager:
        return self.request("OPTIONS", path, **kwargs)

    def head(self, path: str, **kwargs: Any) -> _RequestContextManager:
        return self.request("HEAD", path, **kwargs)

    def ws_connect(self, path: str, **kwargs: Any) -> _WSRequestContextManager:
        return self.session.ws_connect(path, **kwargs)


@dataclass
class Served:
    """A gateway's core app set up, its data plane listening."""

    app: web.Application
    plane: Plane
    url: str
    port: int

    @property
    def components(self) -> Components:
        return self.app[COMPONENTS]


@asynccontextmanager
async def serving(
    settings: GatewaySettings, bus: BusFactory | None = None, *, port: int = 0
) -> AsyncIterator[Served]:
    """The gateway as `python -m services.gateway` runs it (one worker), on `port` (0: a free
    one; a test whose issuer URL names the gateway picks it first)."""
    app = await init_app(settings, bus=bus or (lambda _platform, _service: MemoryBus()))
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        plane = await serve_public(app, "127.0.0.1", port)
        port = plane.port
        try:
            yield Served(app, plane, f"http://127.0.0.1:{port}", port)
        finally:
            await plane.stop(2.0)
    finally:
        await runner.cleanup()


@dataclass
class Gateway:
    client: PlaneClient
    admin: TestClient[web.Request, web.Application]
    upstream: Upstream
    upstream_url: str
    app: web.Application
    plane: Plane

    @property
    def components(self) -> Components:
        return self.app[COMPONENTS]


def routes_yaml(upstream_url: str, extra_routes: str = "") -> str:
    return f"""
upstreams:
  backend:
    url: {upstream_url}
    circuit_breaker: {{consecutive_failures: 3, open_seconds: 30}}
routes:
  - id: echo
    prefix: /api
    upstream: backend
    strip_prefix: true
    timeouts: {{connect_seconds: 1, total_seconds: 1}}
    retries: {{attempts: 2, backoff_base_ms: 1, backoff_max_ms: 2}}
  - id: ws
    prefix: /ws
    upstream: backend
    websocket: true
{extra_routes}
"""


@asynccontextmanager
async def running_gateway(
    extra_routes: str = "", *, trusted_proxies: str = "", **overrides: Any
) -> AsyncIterator[Gateway]:
    upstream = Upstream()
    async with TestServer(upstream.app) as upstream_server:
        url = str(upstream_server.make_url("")).rstrip("/")
        platform = PlatformSettings(
            auth_jwt_secret=SecretStr(JWT_SECRET), admin_token=SecretStr(ADMIN_TOKEN)
        )
        settings = GatewaySettings(
            routes_yaml=routes_yaml(url, extra_routes),
            trusted_proxies=trusted_proxies,
            platform=platform,
            **overrides,
        )
        async with (
            serving(settings) as served,
            aiohttp.ClientSession(base_url=served.url) as session,
            TestClient(TestServer(await init_admin(served.app))) as admin,
        ):
            client = PlaneClient(session, "127.0.0.1", served.port)
            yield Gateway(client, admin, upstream, url, served.app, served.plane)


def caller_seen(headers: dict[str, str], audience: str = "backend") -> Caller:
    """Who the upstream was told is calling: the signed identity in the headers it echoed,
    verified as the upstream service `audience` verifies it; no other `x-surge-*` header."""
    platform = {k: v for k, v in headers.items() if k.startswith(IDENTITY_PREFIX)}
    assert set(platform) == {IDENTITY_HEADER.lower()}, platform
    return IdentityVerifier(KEYS, audience).verify(platform[IDENTITY_HEADER.lower()])


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


GOING_AWAY = WSCloseCode.GOING_AWAY
