"""Run the avatars service in the test's event loop, on the session's Kafka and FerretDB."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from services.avatars.app import init_app
from services.avatars.keys import CONTEXT, Context
from services.avatars.settings import AvatarsSettings
from shared.security import issue_hs256
from shared.settings import PlatformSettings
from tests.identity_support import as_user, signed

JWT_SECRET = "avatars-test-secret-long-enough-for-hs256-0"
ADMIN_TOKEN = "avatars-admin-token-for-tests"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
COLOURS = "tests.avatars_moderator:ColourModerator"


def bearer(sub: str) -> dict[str, str]:
    """A user JWT as a client sends it to the gateway (which verifies it and signs the user)."""
    return {"Authorization": f"Bearer {issue_hs256({'sub': sub}, JWT_SECRET, 3600)}"}


def user(sub: str) -> dict[str, str]:
    """The signed-in user `sub`, as the gateway signs them for the avatars service."""
    return as_user("avatars", sub)


def platform() -> PlatformSettings:
    return PlatformSettings().model_copy(
        update={"auth_jwt_secret": SecretStr(JWT_SECRET), "admin_token": SecretStr(ADMIN_TOKEN)}
    )


def settings(data_dir: Path, unique: str, **overrides: Any) -> AvatarsSettings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "consumer_group": f"avatars-{unique}",
        "pool_workers": 1,
        "moderator": COLOURS,
        "step_backoff_seconds": 0.05,
        "step_timeout_seconds": 30.0,
        "lease_seconds": 5.0,
        "platform": platform(),
        **overrides,
    }
    return AvatarsSettings(**values)


@dataclass
class Avatars:
    app: web.Application
    http: TestClient[web.Request, web.Application]

    @property
    def ctx(self) -> Context:
        return self.app[CONTEXT]

    async def create(self, user: str, content_type: str = "image/jpeg") -> dict[str, Any]:
        response = await self.http.post(
            "/avatars/uploads",
            json={"content_type": content_type},
            headers=as_user("avatars", user),
        )
        assert response.status == 201, await response.text()
        body: dict[str, Any] = await response.json()
        return body

    async def put(self, ticket: dict[str, Any], data: bytes, **headers: str) -> Any:
        """Send the bytes to the upload URL as a client would (its path on this server)."""
        url = ticket["url"].split("://", 1)[1]
        path = url[url.index("/") :]
        sent = {**ticket["headers"], **headers}
        return await self.http.put(path, data=data, headers=sent)

    async def upload(self, user: str, data: bytes, content_type: str = "image/jpeg") -> str:
        created = await self.create(user, content_type)
        response = await self.put(created["upload"], data)
        assert response.status == 200, await response.text()
        return str(created["id"])

    async def state(self, upload_id: str) -> dict[str, Any]:
        doc = await self.ctx.uploads.get(upload_id)
        assert doc is not None
        return doc

    async def until(self, upload_id: str, states: set[str], within: float = 60.0) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while True:
                doc = await self.state(upload_id)
                if (
                    doc["state"] in states
                    and (doc["state"] not in {"rejected", "failed"} or doc.get("finished"))
                    and (doc["state"] != "in_review" or doc.get("held"))
                ):
                    return doc
                await asyncio.sleep(0.05)


@asynccontextmanager
async def running_avatars(settings_: AvatarsSettings, **kwargs: Any) -> AsyncIterator[Avatars]:
    app = await init_app(settings_, **kwargs)
    # What the gateway sends for a caller without credentials (the upload URL, media); requests
    # of a signed-in user replace it with theirs.
    anonymous = signed("avatars", ttl=3600)
    async with TestClient(TestServer(app), headers=anonymous) as http:
        yield Avatars(app, http)


async def until(predicate: Callable[[], Awaitable[bool]], within: float = 30.0) -> None:
    async with asyncio.timeout(within):
        while not await predicate():
            await asyncio.sleep(0.05)


async def read_topic(
    topic: str, matches: Callable[[Any], bool], count: int, within: float = 30.0
) -> list[Any]:
    """The first `count` records of `topic` (read from its start) that `matches` accepts."""
    import uuid

    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=PlatformSettings().kafka_bootstrap_servers,
        group_id=f"reader-{uuid.uuid4().hex}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    found: list[Any] = []
    try:
        async with asyncio.timeout(within):
            while len(found) < count:
                batches = await consumer.getmany(timeout_ms=200)
                found += [r for batch in batches.values() for r in batch if matches(r)]
    finally:
        await consumer.stop()
    return found


def header(record: Any, name: str) -> str:
    return next((v.decode() for k, v in record.headers if k == name), "")
