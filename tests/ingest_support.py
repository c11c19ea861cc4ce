"""Start ingest replicas in the test's event loop (real Kafka and FerretDB), and read back what
they published."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import DummyCookieJar, web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from services.ingest.app import init_app
from services.ingest.keys import CONTEXT, Context
from services.ingest.settings import IngestSettings
from shared.bus.base import Record
from shared.bus.codec import decode
from shared.bus.logreader import KafkaLogReader
from shared.events.catalog import CATALOG
from shared.events.contracts.ingest import BAD_ROW, TRACKING_EVENT, BadRow
from shared.events.proto.tracking_pb2 import TrackingEvent
from shared.http.app import BusFactory
from shared.security import issue_hs256
from shared.settings import PlatformSettings
from tests.identity_support import as_user

JWT_SECRET = "ingest-test-secret-long-enough-for-hs256"
ADMIN_TOKEN = "ingest-admin-token-for-tests"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def bearer(sub: str, **claims: Any) -> dict[str, str]:
    """A user JWT, for calls through the gateway (which verifies it and signs the identity)."""
    return {"Authorization": f"Bearer {issue_hs256({'sub': sub, **claims}, JWT_SECRET, 3600)}"}


def user(sub: str, **claims: Any) -> dict[str, str]:
    """A signed-in user calling the ingest directly, as the gateway vouches for one."""
    return as_user("ingest", sub, **claims)


def settings(platform: PlatformSettings | None = None, **overrides: Any) -> IngestSettings:
    platform = (platform or PlatformSettings()).model_copy(
        update={
            "auth_jwt_secret": (platform or PlatformSettings()).auth_jwt_secret
            or SecretStr(JWT_SECRET),
            "admin_token": SecretStr(ADMIN_TOKEN),
        }
    )
    values: dict[str, Any] = {"platform": platform, "consumers": "", "cookie_secure": False}
    values.update(overrides)
    return IngestSettings(**values)


def program_body(advertiser: str = "acme", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "advertiser": advertiser,
        "name": "Spring sale",
        "event_types": ["impression", "click", "conversion"],
        "required_params": {"conversion": ["order_id"]},
        "redirect_domains": ["shop.example"],
    }
    body.update(overrides)
    return body


@dataclass
class Replica:
    app: web.Application
    http: TestClient[web.Request, web.Application]

    @property
    def ctx(self) -> Context:
        return self.app[CONTEXT]

    async def put_program(self, program: str, **overrides: Any) -> dict[str, Any]:
        response = await self.http.put(
            f"/ingest/admin/programs/{program}", json=program_body(**overrides), headers=ADMIN
        )
        assert response.status in (200, 201), await response.text()
        body: dict[str, Any] = await response.json()
        return body

    async def wait_cached(self, program: str, version: int, within: float = 20.0) -> None:
        async with asyncio.timeout(within):
            while True:
                entry = self.ctx.cache.cached(program)
                if entry is not None and entry.version >= version:
                    return
                await asyncio.sleep(0.02)


@asynccontextmanager
async def running_ingest(
    bus: BusFactory | None = None,
    platform: PlatformSettings | None = None,
    clock: Callable[[], float] = time.time,
    **overrides: Any,
) -> AsyncIterator[Replica]:
    app = await init_app(settings(platform, **overrides), bus=bus, clock=clock)
    # No cookie jar: each request shows exactly the cookies the test gives it.
    async with TestClient(TestServer(app), cookie_jar=DummyCookieJar()) as http:
        await wait_ready(http)
        yield Replica(app, http)


async def wait_ready(http: TestClient[web.Request, web.Application], within: float = 30.0) -> None:
    """Until /readyz says so: the program changes are replayed."""
    async with asyncio.timeout(within):
        while (await http.get("/readyz")).status != 200:
            await asyncio.sleep(0.05)


async def read_topic(
    topic: str, predicate: Callable[[Record], bool], count: int, within: float = 30.0
) -> list[Record]:
    """The first `count` records of `topic` (from its start) that `predicate` keeps."""
    reader = KafkaLogReader(PlatformSettings(), [topic], "test-reader")
    found: list[Record] = []
    await reader.start()
    try:
        async with asyncio.timeout(within):
            while len(found) < count:
                found.extend(r for r in await reader.fetch(200) if predicate(r))
    finally:
        await reader.stop()
    return found


async def events_of(program: str, count: int, within: float = 30.0) -> list[TrackingEvent]:
    records = await read_topic(
        TRACKING_EVENT.topic, lambda r: r.key == program.encode(), count, within
    )
    return [TRACKING_EVENT.decode(r) for r in records]


async def bad_rows_of(program: str, count: int, within: float = 30.0) -> list[BadRow]:
    records = await read_topic(BAD_ROW.topic, lambda r: r.key == program.encode(), count, within)
    rows = []
    for record in records:
        data = decode(record, CATALOG).data
        assert isinstance(data, BadRow)
        rows.append(data)
    return rows
