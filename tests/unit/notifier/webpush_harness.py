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
from shared.security import issue_hs256
from shared.settings import PlatformSettings

SECRET = "webpush-test-secret-of-at-least-32-bytes"
Client = TestClient[web.Request, web.Application]


def settings(**fields: Any) -> NotifierSettings:
    return NotifierSettings(platform=PlatformSettings(auth_jwt_secret=SecretStr(SECRET)), **fields)


def bearer(user: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + issue_hs256({"sub": user}, SECRET)}


@asynccontextmanager
async def notifier(config: NotifierSettings | None = None) -> AsyncIterator[Client]:
    config = config or settings(trusted_proxies="10.9.9.9/32")  # the test client is untrusted
    app = create_app("notifier", config, http_client=True, store=True)
    app.router.add_routes(WebPush.routes)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        push = WebPush(config, app[STORE], app[HTTP_CLIENT], app[METRICS].registry)
        app[WEBPUSH] = push
        await push.start()
        yield
        await push.stop()

    app.cleanup_ctx.append(lifecycle)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client
