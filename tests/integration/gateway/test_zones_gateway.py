"""The whole gatekeeping flow in-process: gateway -> sample shop, tokens from a real waiting room.

Tokens are issued by the waiting room (in-memory bus, hand-driven clock set in the past so a
short session is already over by the wall clock the gateway checks against).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from services.gateway.settings import GatewaySettings
from services.shop.app import init_app as init_shop
from services.shop.settings import ShopSettings
from shared.bus.memory import MemoryBus
from shared.settings import PlatformSettings
from tests.gateway_support import PlaneClient, serving
from tests.waitingroom_support import (
    ADMIN,
    ADMIN_TOKEN,
    JWT_SECRET,
    ManualClock,
    Replica,
    bearer,
    page_token,
    running_waitingroom,
)

pytestmark = pytest.mark.integration
HTML = {"Accept": "text/html,application/xhtml+xml"}


def routes(room: str, shop: str) -> str:
    return f"""
upstreams:
  waitingroom: {{url: "{room}"}}
  shop: {{url: "{shop}"}}
routes:
  - {{id: waitingroom, prefix: /waitingroom/zones/, upstream: waitingroom, auth: jwt}}
  - {{id: page, prefix: /waitingroom/page/, upstream: waitingroom, methods: [GET]}}
  - {{id: tickets, prefix: /tickets/, upstream: shop, protected_zone: "{{zone}}"}}
"""


@dataclass
class Stack:
    gateway: PlaneClient
    room: Replica

    async def admitted_token(self, sub: str, zone: str = "show") -> str:
        joined = await self.gateway.post(f"/waitingroom/zones/{zone}/join", headers=bearer(sub))
        assert joined.status in (200, 201), await joined.text()
        admit = {"n": 1}
        await self.room.call(
            "POST", f"/waitingroom/admin/zones/{zone}/admit", headers=ADMIN, expect=202, json=admit
        )
        await self.room.tick()
        status = await self.gateway.get(f"/waitingroom/zones/{zone}/status", headers=bearer(sub))
        body: dict[str, Any] = await status.json()
        assert body["state"] == "admitted", body
        return str(body["access_token"])


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    clock = ManualClock(time.time() - 600)
    async with running_waitingroom(MemoryBus(), clock=clock) as room:
        room_url = str(room.http.make_url("")).rstrip("/")
        shop_app = await init_shop(ShopSettings(waitingroom_url=room_url))
        async with TestClient(TestServer(shop_app)) as shop:
            platform = PlatformSettings(
                auth_jwt_secret=SecretStr(JWT_SECRET), admin_token=SecretStr(ADMIN_TOKEN)
            )
            settings = GatewaySettings(
                routes_yaml=routes(room_url, str(shop.make_url("")).rstrip("/")),
                waitingroom_jwks_url=room_url + "/waitingroom/.well-known/jwks.json",
                platform=platform,
            )
            async with (
                serving(settings) as served,
                aiohttp.ClientSession(base_url=served.url) as session,
            ):
                gateway = PlaneClient(session, "127.0.0.1", served.port)
                for zone, ttl in (("show", 3600), ("other", 3600), ("old", 60)):
                    await room.create(zone, admit_per_minute=0, session_ttl=ttl)
                yield Stack(gateway, room)


async def test_no_token_redirects_browsers_and_refuses_api_clients(stack: Stack) -> None:
    browser = await stack.gateway.get("/tickets/show/", headers=HTML, allow_redirects=False)
    assert browser.status == 302
    assert browser.headers["Location"].startswith("/waitingroom/page/?zone=show&return=")
    api = await stack.gateway.get("/tickets/show/", headers={"Accept": "application/json"})
    assert api.status == 403
    assert api.content_type == "application/problem+json"
    body = await api.json()
    assert (body["reason"], body["join_url"]) == ("missing", "/waitingroom/zones/show/join")
    page = await stack.gateway.get(browser.headers["Location"])
    assert page.status == 200, "the waiting room page is open to anonymous visitors"
    assert "Sign in to join the line." in await page.text()


async def test_a_valid_token_enters_from_every_source_and_purchase_consumes_it(
    stack: Stack,
) -> None:
    token = await stack.admitted_token("ann")
    for headers in (
        {"Cookie": f"surge_access_show={token}", **HTML},
        {"X-Access-Token": token},
        {"Authorization": f"Bearer {token}"},
        {"X-Access-Token": token, **bearer("ann")},
    ):
        response = await stack.gateway.get("/tickets/show/", headers=headers)
        assert response.status == 200, await response.text()
        assert '<b id="visitor">ann</b>' in (await response.text()).replace("'", '"')
    bought = await stack.gateway.post("/tickets/show/purchase", headers={"X-Access-Token": token})
    assert bought.status == 200, await bought.text()
    assert (await bought.json())["purchased"] is True
    assert stack.room.zone("show").completed == 1
    again = await stack.gateway.post("/tickets/show/purchase", headers={"X-Access-Token": token})
    assert again.status == 409
    assert (await again.json())["reason"] == "replayed"


async def test_other_zone_other_user_expired_and_forged_tokens_are_refused(stack: Stack) -> None:
    other_zone = await stack.admitted_token("ann", "other")
    expired = await stack.admitted_token("ann", "old")
    mine = await stack.admitted_token("ann")
    claims = jwt.decode(mine, options={"verify_signature": False})
    kid = jwt.get_unverified_header(mine)["kid"]
    forged = jwt.encode(
        claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": kid}
    )
    cases = {
        "other_zone": {"X-Access-Token": other_zone},
        "expired": {"X-Access-Token": expired},
        "bad_signature": {"X-Access-Token": forged},
        "other_user": {"X-Access-Token": mine, **bearer("bob")},
    }
    for reason, headers in cases.items():
        response = await stack.gateway.get("/tickets/show/", headers=headers)
        assert response.status == 403, reason
        assert (await response.json())["reason"] == reason
    browser = await stack.gateway.get(
        "/tickets/show/",
        headers={**HTML, "Cookie": f"surge_access_show={expired}"},
        allow_redirects=False,
    )
    assert browser.status == 302


async def test_exempt_users_pass_without_a_token(stack: Stack) -> None:
    await stack.room.create("vip", admit_per_minute=0, exempt=["boss"])
    assert (await stack.gateway.get("/tickets/vip/", headers=bearer("boss"))).status == 200
    assert (await stack.gateway.get("/tickets/vip/", headers=bearer("ann"))).status == 403


async def test_the_page_renders_the_status_server_side_for_clients_without_javascript(
    stack: Stack,
) -> None:
    page = await stack.gateway.get("/waitingroom/page/?zone=show&return=/x", headers=bearer("cy"))
    text = await page.text()
    assert page.status == 200
    assert "You are number 1 in line (0 ahead" in text
    assert '<meta http-equiv="refresh" content="10">' in text
    assert stack.room.zone("show").places["cy"].state == "waiting", "the visit joined"
    await stack.room.call(
        "POST", "/waitingroom/admin/zones/show/admit", headers=ADMIN, expect=202, json={"n": 1}
    )
    await stack.room.tick()
    page = await stack.gateway.get(
        "/waitingroom/page/?zone=show&return=//evil", headers=bearer("cy")
    )
    assert '<a href="/">Continue</a>' in await page.text()
    assert page.cookies["surge_access_show"].value
    anonymous = await stack.gateway.get(f"/waitingroom/page/?zone=show&token={page_token('cy')}")
    assert "Sign in to join the line." in await anonymous.text(), "no ?token= path any more"
    script = await stack.gateway.get("/waitingroom/page/page.js")
    assert script.status == 200
