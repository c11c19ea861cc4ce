"""Web Push subscriptions API: validation, upsert, listing, deletion, ownership, identity."""

from __future__ import annotations

import time
from typing import Any

import pytest

from services.notifier.webpush.vapid import b64url
from shared.http.identity import IDENTITY_HEADER
from shared.security import issue_hs256
from tests.identity_support import FORGED, signed
from tests.pushservice import Subscriber
from tests.unit.notifier.webpush_harness import SECRET, bearer, notifier

pytestmark = pytest.mark.unit


def browser_subscription(endpoint: str = "https://push.example.net/wpush/v2/abc") -> dict[str, Any]:
    return Subscriber("x", endpoint).subscription()


async def test_subscribe_refresh_list_and_delete() -> None:
    async with notifier() as client:
        body = browser_subscription()
        created = await client.post(
            "/notifier/webpush/subscriptions", json=body, headers=bearer("u1")
        )
        assert created.status == 201, await created.text()
        view = await created.json()
        assert view["endpoint"] == body["endpoint"]
        assert "keys" not in view
        assert created.headers["Location"].endswith(view["id"])
        again = await client.post(
            "/notifier/webpush/subscriptions", json=body, headers=bearer("u1")
        )
        assert again.status == 200  # upserted by endpoint, not duplicated
        other = browser_subscription("https://push.example.net/wpush/v2/def")
        await client.post("/notifier/webpush/subscriptions", json=other, headers=bearer("u1"))
        listed = await (
            await client.get("/notifier/webpush/subscriptions", headers=bearer("u1"))
        ).json()
        assert {s["endpoint"] for s in listed["subscriptions"]} == {
            body["endpoint"],
            other["endpoint"],
        }
        gone = await client.delete(
            "/notifier/webpush/subscriptions",
            params={"endpoint": body["endpoint"]},
            headers=bearer("u1"),
        )
        assert gone.status == 204
        by_id = await client.delete(
            f"/notifier/webpush/subscriptions/{listed['subscriptions'][0]['id']}",
            headers=bearer("u1"),
        )
        assert by_id.status in (204, 404)
        left = await (
            await client.get("/notifier/webpush/subscriptions", headers=bearer("u1"))
        ).json()
        assert len(left["subscriptions"]) == 2 - 1 - (by_id.status == 204)


def _non_curve_point() -> str:
    return b64url(b"\x04" + (1).to_bytes(32, "big") + (1).to_bytes(32, "big"))


def _with(**changes: Any) -> dict[str, Any]:
    body = browser_subscription()
    keys = {**body["keys"], **changes.pop("keys", {})}
    return {**body, "keys": keys, **changes}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (_with(endpoint="http://push.example.net/x"), {"endpoint"}),
        (_with(endpoint="ftp://push.example.net/x"), {"endpoint"}),
        (_with(endpoint="https:///nohost"), {"endpoint"}),
        (_with(endpoint="https://user:pw@push.example.net/x"), {"endpoint"}),
        (_with(keys={"p256dh": b64url(b"\x04" + b"\x01" * 10)}), {"keys.p256dh"}),
        (_with(keys={"p256dh": _non_curve_point()}), {"keys.p256dh"}),
        (_with(keys={"p256dh": "not base64 !!"}), {"keys.p256dh"}),
        (_with(keys={"auth": b64url(b"short")}), {"keys.auth"}),
        ({"keys": {}}, {"endpoint", "keys.p256dh", "keys.auth"}),
        ({"endpoint": "https://push.example.net/x"}, {"keys"}),
    ],
)
async def test_invalid_subscriptions_are_refused_listing_fields(
    body: dict[str, Any], fields: set[str]
) -> None:
    async with notifier() as client:
        response = await client.post(
            "/notifier/webpush/subscriptions", json=body, headers=bearer("u")
        )
        assert response.status == 400
        assert response.content_type == "application/problem+json"
        problem = await response.json()
        assert {e["field"] for e in problem["errors"]} == fields
        listed = await client.get("/notifier/webpush/subscriptions", headers=bearer("u"))
        assert (await listed.json())["subscriptions"] == []


async def test_not_json_is_a_problem() -> None:
    async with notifier() as client:
        response = await client.post(
            "/notifier/webpush/subscriptions", data=b"{nope", headers=bearer("u")
        )
        assert response.status == 400
        assert response.content_type == "application/problem+json"


async def test_another_user_cannot_delete_yours() -> None:
    async with notifier() as client:
        body = browser_subscription()
        view = await (
            await client.post("/notifier/webpush/subscriptions", json=body, headers=bearer("alice"))
        ).json()
        by_id = await client.delete(
            f"/notifier/webpush/subscriptions/{view['id']}", headers=bearer("bob")
        )
        by_endpoint = await client.delete(
            "/notifier/webpush/subscriptions",
            params={"endpoint": body["endpoint"]},
            headers=bearer("bob"),
        )
        assert by_id.status == by_endpoint.status == 404
        mine = await (
            await client.get("/notifier/webpush/subscriptions", headers=bearer("alice"))
        ).json()
        assert [s["id"] for s in mine["subscriptions"]] == [view["id"]]
        theirs = await (
            await client.get("/notifier/webpush/subscriptions", headers=bearer("bob"))
        ).json()
        assert theirs["subscriptions"] == []


async def test_the_caller_is_the_signed_identity_and_nothing_else() -> None:
    async with notifier() as client:
        unsigned = {"X-Surge-User-Id": "carol", "X-Surge-Identity-Kind": "jwt"}
        valid_jwt = {"Authorization": f"Bearer {issue_hs256({'sub': 'carol'}, SECRET)}"}
        for refused in (
            {**unsigned, IDENTITY_HEADER: ""},  # the old headers, no signed caller
            signed("notifier", "jwt", "carol", now=time.time() - 3600),  # expired
            signed("waitingroom", "jwt", "carol"),  # for another service
            signed("notifier", "jwt", "carol", keys=FORGED),  # not the platform's key
        ):
            response = await client.get("/notifier/webpush/subscriptions", headers=refused)
            assert response.status == 401
            assert (await response.json())["reason"].startswith("identity_")
        for not_a_user in (
            {},  # the gateway's anonymous caller
            valid_jwt,  # a bearer token is the gateway's to verify, not the service's
            {**unsigned},
            signed("notifier", "api_key", key_id="0123456789ab", plan_id="gold"),
            signed("notifier", "service", "shop"),
        ):
            response = await client.get("/notifier/webpush/subscriptions", headers=not_a_user)
            assert response.status == 401
            assert (await response.json())["reason"] == "user_required"
        body = browser_subscription()
        saved = await client.post(
            "/notifier/webpush/subscriptions", json=body, headers=bearer("carol")
        )
        assert saved.status == 201
        mine = await (
            await client.get("/notifier/webpush/subscriptions", headers=bearer("carol"))
        ).json()
        assert len(mine["subscriptions"]) == 1
