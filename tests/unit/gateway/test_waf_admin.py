"""The WAF admin API: list blocked addresses, block and unblock by hand, list rules with hits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.gateway.components import COMPONENTS
from services.gateway.waf import Waf
from services.gateway.waf.admin import routes
from shared.store import Store
from tests.clock import ManualClock
from tests.unit.gateway.g2_support import components
from tests.unit.gateway.waf_support import make_waf, serve, table

pytestmark = pytest.mark.unit


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def waf(clock: ManualClock) -> Waf:
    return make_waf(clock, waf_rate_limit=2, waf_rate_block_seconds=300)


@pytest.fixture
async def admin(waf: Waf, store: Store) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application()
    async with components(store, waf=waf) as parts:
        app[COMPONENTS] = parts
        app.add_routes(routes)
        async with TestClient(TestServer(app)) as client:
            yield client


async def test_blocked_addresses_are_listed_and_can_be_unblocked(
    waf: Waf, clock: ManualClock, admin: TestClient[web.Request, web.Application]
) -> None:
    async with serve(waf, table({"id": "r", "prefix": "/", "upstream": "up"})) as gw:
        statuses = [(await gw.get("/x")).status for _ in range(3)]
        assert statuses == [200, 200, 403]
        clock.advance(100)

        listed = await (await admin.get("/admin/waf/blocks")).json()
        [block] = listed["blocks"]
        assert block["ip"] == "127.0.0.1"
        assert block["remaining_seconds"] == 200
        assert "more than 2 requests" in block["reason"]
        assert block["until"].endswith("+00:00")

        response = await admin.delete("/admin/waf/blocks/127.0.0.1")
        assert response.status == 204
        assert (await gw.get("/x")).status == 200
        assert (await (await admin.get("/admin/waf/blocks")).json())["blocks"] == []


async def test_unblocking_an_address_that_is_not_blocked_is_404(
    admin: TestClient[web.Request, web.Application],
) -> None:
    response = await admin.delete("/admin/waf/blocks/192.0.2.1")
    assert response.status == 404
    assert response.content_type == "application/problem+json"


async def test_an_invalid_address_is_400(admin: TestClient[web.Request, web.Application]) -> None:
    response = await admin.delete("/admin/waf/blocks/not-an-ip")
    assert response.status == 400
    assert response.content_type == "application/problem+json"


async def test_an_operator_can_block_an_address_for_a_period(
    waf: Waf, clock: ManualClock, admin: TestClient[web.Request, web.Application]
) -> None:
    response = await admin.post(
        "/admin/waf/blocks", json={"ip": "2001:db8::7", "seconds": 60, "reason": "abuse ticket"}
    )
    assert response.status == 201
    assert (await response.json())["ip"] == "2001:db8::7"
    [block] = waf.blocks()
    assert block.reason == "abuse ticket"
    clock.advance(60)
    assert waf.blocks() == []


@pytest.mark.parametrize(
    "body",
    [b"{", b'{"ip": "1.2.3.4"}', b'{"ip": "1.2.3.4", "seconds": -1}', b'{"ip": "x", "seconds": 5}'],
)
async def test_an_invalid_manual_block_is_400(
    body: bytes, admin: TestClient[web.Request, web.Application]
) -> None:
    response = await admin.post("/admin/waf/blocks", data=body)
    assert response.status == 400
    assert response.content_type == "application/problem+json"


async def test_rules_are_listed_with_mode_and_hits(
    waf: Waf, admin: TestClient[web.Request, web.Application]
) -> None:
    async with serve(waf, table({"id": "r", "prefix": "/", "upstream": "up"})) as gw:
        assert (await gw.get("/x", params={"q": "<script>"})).status == 403
    rules = {
        rule["id"]: rule for rule in (await (await admin.get("/admin/waf/rules")).json())["rules"]
    }
    assert rules["xss-001"]["hits"] == 1
    assert rules["xss-001"]["mode"] == "block"
    assert rules["xss-001"]["description"]
    assert "query" in rules["xss-001"]["targets"]
    assert rules["sqli-001"]["hits"] == 0
    assert {"ip-deny", "rate-based", "size-body", "body-schema"} <= set(rules)
