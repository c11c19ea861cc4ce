"""One waiting room replica over an in-memory bus: admin API, joins, admission, tokens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import jwt
import pytest

from shared.bus.memory import MemoryBus
from shared.events.contracts.notifier import NOTIFICATION_REQUESTED, NotificationRequested
from tests.identity_support import as_service
from tests.waitingroom_support import ADMIN, Replica, page_token, running_waitingroom, user


def gateway() -> dict[str, str]:
    """The gateway calling the verify API, signed now (an assertion lives 60 s)."""
    return as_service("waitingroom", "gateway")


pytestmark = pytest.mark.unit


@pytest.fixture
async def bus() -> MemoryBus:
    return MemoryBus()


@pytest.fixture
async def room(bus: MemoryBus) -> AsyncIterator[Replica]:
    async with running_waitingroom(bus) as replica:
        yield replica


async def test_admin_api_needs_the_admin_token(room: Replica) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
        response = await room.http.get("/waitingroom/admin/zones", headers=headers)
        assert response.status == 401
        assert response.content_type == "application/problem+json"


async def test_zone_crud_and_summary(room: Replica) -> None:
    created = await room.create(name="Finals", tiers=["vip", "general"])
    assert created["config"]["name"] == "Finals"
    assert created["summary"]["queue_length"] == 0
    again = await room.http.post("/waitingroom/admin/zones", json={"id": "show"}, headers=ADMIN)
    assert again.status in (409, 422)
    bad = await room.http.put("/waitingroom/admin/zones/show", json={"capacity": -1}, headers=ADMIN)
    assert bad.status == 422
    assert (await bad.json())["errors"]
    body = {"id": "show", "capacity": 5, "max_active": 2, "admit_per_minute": 30}
    updated = await room.call("PUT", "/waitingroom/admin/zones/show", headers=ADMIN, json=body)
    assert updated["config"]["capacity"] == 5
    listed = await room.call("GET", "/waitingroom/admin/zones", headers=ADMIN)
    assert [z["config"]["id"] for z in listed["zones"]] == ["show"]
    summary = await room.call("GET", "/waitingroom/admin/zones/show/summary", headers=ADMIN)
    assert {"queue_length", "active", "completed", "admitted_per_minute"} <= set(summary)
    assert {"median_wait_seconds", "p95_wait_seconds", "abandoned"} <= set(summary)


async def test_concurrent_joins_get_unique_gap_free_positions_in_arrival_order(
    room: Replica, bus: MemoryBus
) -> None:
    await room.create(capacity=100, max_active=100)
    users = [f"u{i}" for i in range(40)]
    joined = await asyncio.gather(*(room.join(u) for u in users))
    positions = sorted(j["position"] for j in joined)
    assert positions == list(range(1, 41))
    by_number = sorted(joined, key=lambda j: j["queue_number"])
    assert [j["position"] for j in by_number] == list(range(1, 41))  # arrival = log order
    again = await room.join("u7", expect=200)
    assert (
        again["queue_number"]
        == next(j for j in joined if j["queue_number"] == again["queue_number"])["queue_number"]
    )
    assert (await room.status("u7"))["position"] == again["position"]


async def test_admission_by_rate_then_complete_and_refusals(room: Replica) -> None:
    await room.create(capacity=2, max_active=1, admit_per_minute=60)
    for sub in ("ann", "bob", "cy"):
        await room.join(sub)
    room.clock.now += 1.0
    await room.tick()
    ann = await room.status("ann")
    assert ann["state"] == "admitted"
    assert ann["access_token"]
    assert (await room.status("bob"))["position"] == 1
    room.clock.now += 5.0
    await room.tick()
    assert (await room.status("bob"))["state"] == "waiting", "max_active=1 holds bob back"
    token = ann["access_token"]
    path = "/waitingroom/zones/show/complete"
    other = await room.call("POST", path, "bob", 403, json={"token": token})
    assert other["reason"] == "other_user"
    done = await room.call("POST", path, "ann", json={"token": token})
    assert done["state"] == "completed"
    replay = await room.call("POST", path, "ann", 409, json={"token": token})
    assert replay["reason"] == "replayed"
    room.clock.now += 1.0
    await room.tick()
    bob = await room.status("bob")
    assert bob["state"] == "admitted"
    await room.call("POST", path, "bob", json={"token": bob["access_token"]})
    zone = room.zone()
    assert zone.completed == 2
    assert zone.active == 0
    assert (await room.status("cy"))["state"] == "sold_out"


async def test_token_refusal_matrix(room: Replica) -> None:
    await room.create(capacity=5, max_active=5, admit_per_minute=600, session_ttl=30)
    await room.create("other", capacity=5, max_active=5, admit_per_minute=600)
    await room.join("ann")
    room.clock.now += 1.0
    await room.tick()
    token = (await room.status("ann"))["access_token"]

    async def verify(tok: str, zone: str = "show", expect: int = 401, **kw: str) -> str:
        body = {"token": tok, "zone": zone, **kw}
        problem = await room.call(
            "POST", "/waitingroom/verify", None, expect, json=body, headers=gateway()
        )
        assert expect == 200 or problem["type"].endswith(problem["reason"].replace("_", "-"))
        return str(problem.get("reason", "ok"))

    assert await verify(token, expect=200) == "ok"
    for caller in (user("ann"), {}):  # only the platform's services ask (the gateway)
        body = {"token": token, "zone": "show"}
        asked = await room.http.post("/waitingroom/verify", json=body, headers=caller)
        assert asked.status == 403
        assert (await asked.json())["reason"] == "service_required"
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    assert await verify(forged) == "bad_signature"
    assert await verify("not.a.jwt") == "malformed"
    assert await verify(token, "other", 403) == "other_zone"
    assert await verify(token, user="bob", expect=403) == "other_user"
    room.clock.now += 60
    await room.tick()  # the session lapses; the slot is freed
    assert room.zone().active == 0
    assert await verify(token) in ("expired", "revoked")


async def test_pause_stops_admission_at_once_and_resume_restarts(room: Replica) -> None:
    await room.create(capacity=10, max_active=10, admit_per_minute=600)
    await room.join("ann")
    await room.call("POST", "/waitingroom/admin/zones/show/pause", headers=ADMIN)
    room.clock.now += 10
    await room.tick()
    assert (await room.status("ann"))["state"] == "waiting"
    await room.call("POST", "/waitingroom/admin/zones/show/resume", headers=ADMIN)
    room.clock.now += 1
    await room.tick()
    assert (await room.status("ann"))["state"] == "admitted"


async def test_exempt_identities_bypass_the_queue(room: Replica) -> None:
    await room.create(capacity=1, max_active=1, admit_per_minute=0, exempt=["boss"])
    await room.join("ann")
    boss = await room.join("boss")
    assert boss["state"] == "admitted"
    assert boss["access_token"]
    assert room.zone().active == 0, "exempt visitors take no max_active slot"


async def test_admit_by_hand_and_leave_and_lapse(room: Replica) -> None:
    await room.create(capacity=10, max_active=10, admit_per_minute=0, position_ttl=30)
    for sub in ("ann", "bob", "cy", "dee"):
        await room.join(sub)
    await room.call(
        "POST", "/waitingroom/admin/zones/show/admit", headers=ADMIN, expect=202, json={"n": 2}
    )
    await room.tick()
    assert [(await room.status(s))["state"] for s in ("ann", "bob", "cy")] == [
        "admitted",
        "admitted",
        "waiting",
    ]
    await room.call("POST", "/waitingroom/zones/show/leave", "cy", 204)
    room.clock.now += 20
    await room.call("POST", "/waitingroom/zones/show/renew", "dee")
    room.clock.now += 20
    await room.tick()
    assert (await room.status("dee"))["state"] == "waiting"
    room.clock.now += 31
    await room.tick()
    assert (await room.status("dee"))["state"] == "expired"
    assert room.zone().abandoned == 2


async def test_pushes_admission_and_positions_to_the_notifier(
    room: Replica, bus: MemoryBus
) -> None:
    await room.create(capacity=10, max_active=10, admit_per_minute=60)
    for sub in ("ann", "bob"):
        await room.join(sub)
    room.clock.now += 1
    await room.tick()

    def notes() -> list[NotificationRequested]:
        return [
            NotificationRequested.model_validate_json(r.value)
            for r in bus.records(NOTIFICATION_REQUESTED.topic)
        ]

    async with asyncio.timeout(5):
        while not any(n.event == "waitingroom.admitted" for n in notes()):
            await asyncio.sleep(0.01)
    admitted = next(n for n in notes() if n.event == "waitingroom.admitted")
    assert admitted.channel == "user:ann"
    assert admitted.data["zone"] == "show"
    async with asyncio.timeout(5):
        while not any(
            n.channel == "user:bob" and n.event == "waitingroom.position" for n in notes()
        ):
            await asyncio.sleep(0.01)


async def test_identity_from_the_signed_caller_and_jwks(room: Replica) -> None:
    await room.create(tiers=["vip", "general"])
    joined = await room.http.post("/waitingroom/zones/show/join", headers=user("gw-user"))
    assert joined.status == 201
    assert (await joined.json())["tier"] == "general"
    # The tier claim of the user's token travels in the signed caller's claims.
    vip = await room.http.post("/waitingroom/zones/show/join", headers=user("v", tier="vip"))
    assert (await vip.json())["tier"] == "vip"
    jwks = await room.call("GET", "/waitingroom/.well-known/jwks.json")
    (key,) = jwks["keys"]
    assert key["alg"] == "ES256"
    assert key["kid"]
    assert "d" not in key
    unsigned = {"X-Surge-User-Id": "gw-user", "X-Surge-Identity-Kind": "jwt"}
    bearer = {"Authorization": f"Bearer {page_token('gw-user')}"}
    for headers in ({}, bearer, unsigned):  # the gateway's anonymous caller, no user
        refused = await room.http.post("/waitingroom/zones/show/join", headers=headers)
        assert refused.status == 401
        assert (await refused.json())["reason"] == "user_required"
    forged = {**unsigned, "X-Surge-Identity": "forged"}
    refused = await room.http.post("/waitingroom/zones/show/join", headers=forged)
    assert (await refused.json())["reason"] == "identity_malformed"


async def test_the_shop_completes_a_visitors_token_as_a_service(room: Replica) -> None:
    await room.create(capacity=5, max_active=5, admit_per_minute=600)
    await room.join("ann")
    room.clock.now += 1.0
    await room.tick()
    token = (await room.status("ann"))["access_token"]
    path = "/waitingroom/zones/show/complete"
    shop = as_service("waitingroom", "shop")
    other = await room.call(
        "POST", path, expect=403, headers=shop, json={"token": token, "user": "bob"}
    )
    assert other["reason"] == "other_user"
    nobody = await room.call("POST", path, expect=401, json={"token": token})  # anonymous
    assert nobody["reason"] == "user_required"
    done = await room.call("POST", path, headers=shop, json={"token": token, "user": "ann"})
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    assert done == {"zone": "show", "state": "completed", "jti": jti}
    replay = await room.call("POST", path, expect=409, headers=shop, json={"token": token})
    assert replay["reason"] == "replayed"


async def test_metrics_report_zone_figures(room: Replica) -> None:
    await room.create()
    await room.join("ann")
    text = await (await room.http.get("/metrics")).text()
    assert 'waitingroom_queue_length{zone="show"} 1.0' in text
    assert "waitingroom_wait_seconds" in text
