"""Test support for the Web Push tests: the notifier HTTP app with only Web Push mounted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from services.notifier.settings import NotifierSettings
from services.notifier.webpush import WEBPUSH, WebPush
from shared.http.app import create_app
from shared.http.keys import HTTP_CLIENT, METRICS, STORE
from shared.settings import PlatformSettings
from tests.identity_support import anonymous, as_user

SECRET = "webpush-test-secret-of-at-least-32-bytes"
Client = TestClient[web.Request, web.Application]


def settings(**fields: Any) -> NotifierSettings:
    return NotifierSettings(platform=PlatformSettings(auth_jwt_secret=SecretStr(SECRET)), **fields)


def bearer(user: str) -> dict[str, str]:
    """The signed-in `user`, as the gateway signs them for the notifier."""
    return as_user("notifier", user)


@asynccontextmanager
async def notifier(config: NotifierSettings | None = None) -> AsyncIterator[Client]:
    config = config or settings()
    app = create_app("notifier", config, http_client=True, store=True)
    app.router.add_routes(WebPush.routes)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        push = WebPush(config, app[STORE], app[HTTP_CLIENT], app[METRICS].registry)
        app[WEBPUSH] = push
        await push.start()
        yield
        await push.stop()

    app.cleanup_ctx.append(lifecycle)
    # As through the gateway: a signed (anonymous) caller unless a test signs someone in.
    async with TestClient(
        TestServer(app, host="127.0.0.1"), headers=anonymous("notifier")
    ) as client:
        yield client
