"""The admin API for plans, keys and usage, on a small app mounting `admin_keys.routes`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.gateway.admin.keys import routes
from services.gateway.auth.identity import Identity
from services.gateway.components import COMPONENTS
from shared.store import Store
from tests.unit.gateway.g2_support import components, route

pytestmark = pytest.mark.unit

Client = TestClient[web.Request, web.Application]
GOLD: dict[str, Any] = {"id": "gold", "name": "Gold", "rate": 50, "burst": 100, "quota_day": 1000}


@pytest.fixture
async def app(store: Store) -> AsyncIterator[web.Application]:
    app = web.Application()
    async with components(store) as parts:
        app[COMPONENTS] = parts
        app.add_routes(routes)
        yield app


@pytest.fixture
async def client(app: web.Application) -> AsyncIterator[Client]:
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status == status
    assert response.content_type == "application/problem+json"
    body: dict[str, Any] = await response.json()
    return body


async def test_plans_crud(client: Client) -> None:
    created = await client.post("/admin/plans", json=GOLD)
    assert created.status == 201
    assert (await created.json())["quota_day"] == 1000
    await problem(await client.post("/admin/plans", json=GOLD), 409)

    listed = await (await client.get("/admin/plans")).json()
    assert [plan["id"] for plan in listed["plans"]] == ["default", "gold"]
    assert (await (await client.get("/admin/plans/gold")).json())["rate"] == 50

    changed = await client.put("/admin/plans/gold", json={**GOLD, "rate": 5} | {"id": None})
    await problem(changed, 400)  # the id comes from the path, not the body
    body = {k: v for k, v in GOLD.items() if k != "id"}
    changed = await client.put("/admin/plans/gold", json={**body, "rate": 5})
    assert changed.status == 200
    assert (await (await client.get("/admin/plans/gold")).json())["rate"] == 5
    assert (await client.put("/admin/plans/silver", json=body)).status == 201

    assert (await client.delete("/admin/plans/silver")).status == 204
    await problem(await client.get("/admin/plans/silver"), 404)
    await problem(await client.delete("/admin/plans/silver"), 404)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({**GOLD, "rate": 0}, {"rate"}),
        ({**GOLD, "burst": "many", "quota_day": -1}, {"burst", "quota_day"}),
        ({**GOLD, "id": "Bad Id!"}, {"id"}),
        ({**GOLD, "surprise": 1}, {"surprise"}),
        ({"id": "x"}, {"name", "rate", "burst"}),
    ],
)
async def test_an_invalid_plan_is_400_listing_the_fields(
    client: Client, body: dict[str, Any], fields: set[str]
) -> None:
    details = await problem(await client.post("/admin/plans", json=body), 400)
    assert {error["field"] for error in details["errors"]} == fields


async def test_a_non_json_body_is_400(client: Client) -> None:
    await problem(await client.post("/admin/plans", data=b"{nope"), 400)
    await problem(await client.post("/admin/keys", data=b""), 400)


async def test_a_key_is_shown_once_and_never_listed_with_secrets(
    client: Client, app: web.Application
) -> None:
    await client.post("/admin/plans", json=GOLD)
    created = await client.post("/admin/keys", json={"name": "billing", "plan_id": "gold"})
    assert created.status == 201
    assert created.headers["Cache-Control"] == "no-store"
    key = await created.json()
    plaintext = key["key"]
    assert plaintext.startswith(f"sk_{key['id']}_")
    assert (key["plan_id"], key["revoked_at"]) == ("gold", None)

    listed = await client.get("/admin/keys")
    text = await listed.text()
    secret = plaintext.rsplit("_", 1)[-1]
    assert secret not in text
    assert '"hash"' not in text
    assert '"key"' not in text
    [shown] = (await listed.json())["keys"]
    assert shown["id"] == key["id"]
    one = await client.get(f"/admin/keys/{key['id']}")
    assert secret not in await one.text()

    assert await app[COMPONENTS].api_keys.authenticate(plaintext) is not None
    assert (await client.delete(f"/admin/keys/{key['id']}")).status == 204
    assert await app[COMPONENTS].api_keys.authenticate(plaintext) is None
    revoked = await (await client.get(f"/admin/keys/{key['id']}")).json()
    assert revoked["revoked_at"] is not None
    active = await (await client.get("/admin/keys", params={"include_revoked": "false"})).json()
    assert active["keys"] == []


async def test_key_errors(client: Client) -> None:
    details = await problem(
        await client.post("/admin/keys", json={"name": "x", "plan_id": "nope"}), 400
    )
    assert [error["field"] for error in details["errors"]] == ["plan_id"]
    details = await problem(await client.post("/admin/keys", json={"name": "", "extra": 1}), 400)
    assert {error["field"] for error in details["errors"]} == {"name", "extra"}
    await problem(await client.get("/admin/keys/000000000000"), 404)
    await problem(await client.delete("/admin/keys/000000000000"), 404)
    default = await client.post("/admin/keys", json={"name": "plain"})
    assert (await default.json())["plan_id"] == "default"


async def test_a_plan_in_use_cannot_be_deleted(client: Client) -> None:
    await client.post("/admin/plans", json=GOLD)
    key = await (await client.post("/admin/keys", json={"name": "k", "plan_id": "gold"})).json()
    await problem(await client.delete("/admin/plans/gold"), 409)
    await client.delete(f"/admin/keys/{key['id']}")
    assert (await client.delete("/admin/plans/gold")).status == 204


async def test_usage_per_route_and_period(client: Client, app: web.Application) -> None:
    await client.post("/admin/plans", json=GOLD)
    key = await (await client.post("/admin/keys", json={"name": "k", "plan_id": "gold"})).json()
    identity = Identity(kind="api_key", key_id=key["id"], plan_id="gold")
    await app[COMPONENTS].limiter.quotas.reserve(key["id"], {"day": 1000})
    metering = app[COMPONENTS].metering
    metering.record(identity, route(id="orders"), 200)
    await metering.flush()
    metering.record(identity, route(id="orders"), 429, throttled=True)
    metering.record(identity, route(id="search"), 200)

    body = await (await client.get(f"/admin/usage/{key['id']}")).json()
    today = datetime.now(UTC).date().isoformat()
    assert body["key_id"] == key["id"]
    assert body["plan_id"] == "gold"
    assert body["to"] == today
    assert body["routes"] == {
        "orders": {"requests": 2, "throttled": 1, "quota_used": 1},
        "search": {"requests": 1, "throttled": 0, "quota_used": 1},
    }
    assert {(d["day"], d["route_id"]) for d in body["days"]} == {
        (today, "orders"),
        (today, "search"),
    }
    day = body["quotas"]["day"]
    assert (day["limit"], day["used"], day["remaining"]) == (1000, 1, 999)
    assert day["resets_at"].endswith("+00:00")


async def test_usage_errors(client: Client) -> None:
    await problem(await client.get("/admin/usage/000000000000"), 404)
    key = await (await client.post("/admin/keys", json={"name": "k"})).json()
    details = await problem(await client.get(f"/admin/usage/{key['id']}?from=yesterday"), 400)
    assert details["errors"][0]["field"] == "from"
    await problem(await client.get(f"/admin/usage/{key['id']}?from=2024-05-02&to=2024-05-01"), 400)
    empty = await (
        await client.get(f"/admin/usage/{key['id']}?from=2024-01-01&to=2024-01-31")
    ).json()
    assert (empty["days"], empty["routes"], empty["quotas"]) == ([], {}, {})
