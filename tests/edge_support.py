"""The platform's edge in this process, as a browser meets it: the gateway in front of the
accounts service, the waiting room, the notifier and the sample shop, every service verifying
user tokens with the accounts service's JWKS (the `make run` default), on the test's broker."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.gateway.settings import GatewaySettings
from services.notifier.app import init_app as init_notifier
from services.notifier.keys import WS_SERVER
from services.shop.app import init_app as init_shop
from services.shop.settings import ShopSettings
from shared.http.app import kafka_bus
from shared.settings import PlatformSettings
from shared.stack.servers import free_port
from tests import notifier_support
from tests.accounts_support import Service, running_accounts, url_of
from tests.gateway_support import serving
from tests.waitingroom_support import ManualClock, Replica, running_waitingroom

JWKS_PATH = "/accounts/.well-known/jwks.json"


def routes(accounts: str, room: str, notifier_ws: str, shop: str) -> str:
    return f"""
upstreams:
  accounts: {{url: "{accounts}"}}
  waitingroom: {{url: "{room}"}}
  notifier-ws: {{url: "{notifier_ws}", audience: notifier}}
  shop: {{url: "{shop}"}}
routes:
  - {{id: accounts-api, prefix: /accounts/api/, upstream: accounts}}
  - {{id: accounts-oidc, prefix: /accounts/.well-known/, upstream: accounts, methods: [GET],
      cors: {{allow_origins: ["*"]}}}}
  - {{id: accounts-authorize, prefix: /accounts/authorize, upstream: accounts, methods: [GET]}}
  - {{id: accounts-token, prefix: /accounts/token, upstream: accounts, methods: [POST],
      cors: {{allow_origins: ["*"], allow_methods: [POST]}}}}
  - {{id: accounts-userinfo, prefix: /accounts/userinfo, upstream: accounts,
      cors: {{allow_origins: ["*"], allow_methods: [GET, POST]}}}}
  - {{id: accounts-signin, prefix: /accounts/signin, upstream: accounts, methods: [GET]}}
  - {{id: accounts-signup, prefix: /accounts/signup, upstream: accounts, methods: [GET]}}
  - {{id: accounts-verify, prefix: /accounts/verify, upstream: accounts, methods: [GET]}}
  - {{id: accounts-account, prefix: /accounts/account, upstream: accounts, methods: [GET]}}
  - {{id: accounts-static, prefix: /accounts/static/, upstream: accounts, methods: [GET]}}
  - {{id: ws, prefix: /ws, upstream: notifier-ws, websocket: true}}
  - {{id: waitingroom, prefix: /waitingroom/zones/, upstream: waitingroom, auth: jwt}}
  - {{id: page, prefix: /waitingroom/page/, upstream: waitingroom, methods: [GET]}}
  - {{id: tickets, prefix: /tickets/, upstream: shop, protected_zone: "{{zone}}"}}
"""


@dataclass
class Edge:
    base: str  # the gateway, as the browser reaches it
    accounts: Service
    room: Replica
    platform: PlatformSettings


async def _serve(stack: AsyncExitStack, app: web.Application, **kw: Any) -> TestClient[Any, Any]:
    return await stack.enter_async_context(TestClient(TestServer(app, **kw)))


@asynccontextmanager
async def running_edge(tmp: Path) -> AsyncIterator[Edge]:
    """Needs the test broker in the environment (`kafka_env`)."""
    gateway_port = free_port()
    base = f"http://127.0.0.1:{gateway_port}"
    async with AsyncExitStack() as stack:
        accounts = await stack.enter_async_context(
            running_accounts(
                tmp, bus=kafka_bus, clock=time.time, issuer=f"{base}/accounts", password_min_score=3
            )
        )
        platform = PlatformSettings().model_copy(
            update={"auth_jwks_url": url_of(accounts.http) + JWKS_PATH}
        )
        room = await stack.enter_async_context(
            running_waitingroom("kafka", platform, ManualClock(time.time()))
        )
        notifier_settings = notifier_support.settings(platform).model_copy(
            update={"platform": platform.model_copy(update={"auth_jwt_secret": None})}
        )
        notifier = await init_notifier(notifier_settings, bus=kafka_bus)
        notifier_http = await _serve(stack, notifier)
        shop = await _serve(stack, await init_shop(ShopSettings(waitingroom_url=url_of(room.http))))
        settings = GatewaySettings(
            routes_yaml=routes(
                url_of(accounts.http),
                url_of(room.http),
                f"http://127.0.0.1:{notifier[WS_SERVER].port}",
                url_of(shop),
            ),
            waitingroom_jwks_url=url_of(room.http) + "/waitingroom/.well-known/jwks.json",
            platform=platform,
        )
        await stack.enter_async_context(serving(settings, kafka_bus, port=gateway_port))
        ready = await notifier_http.get("/readyz")
        assert ready.status == 200, await ready.text()
        yield Edge(base, accounts, room, platform)
