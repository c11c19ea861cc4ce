"""What a user of the gateway does, end to end through both ports: plans and keys through the
admin API, keyed and JWT routes, rate limits (rejecting and queueing), the WAF, CORS, and usage
read back through the admin API and published on the bus."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import ClientResponse

from services.gateway.components import COMPONENTS
from shared.bus.memory import MemoryBus
from shared.events.contracts.gateway import USAGE_REPORTED
from shared.http.keys import BUS, METRICS
from shared.security import issue_hs256
from tests.gateway_support import JWT_SECRET, Gateway, admin_headers, caller_seen, running_gateway

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"
ORIGIN = "https://app.example"

ROUTES = f"""
  - id: keyed
    prefix: /keyed
    upstream: backend
    strip_prefix: true
    auth: api_key
  - id: orders
    prefix: /orders
    upstream: backend
    strip_prefix: true
    auth: jwt
    scopes: ["orders:read"]
  - id: queued
    prefix: /queued
    upstream: backend
    strip_prefix: true
    rate_limit: {{rate: 50, burst: 2, queue_timeout_seconds: 5}}
  - id: strict
    prefix: /strict
    upstream: backend
    strip_prefix: true
    rate_limit: {{rate: 0.01, burst: 1}}
  - id: orders-api
    prefix: /shop
    upstream: backend
    strip_prefix: true
    cors: {{allow_origins: ["{ORIGIN}"], allow_methods: [GET, POST]}}
    waf:
      max_body_bytes: 1024
      body_schema:
        type: object
        required: [sku, quantity]
        properties:
          sku: {{type: string}}
          quantity: {{type: integer, minimum: 1}}
"""


def running() -> Any:
    # Small header limit so a 431 needs a few kB, not 16; usage is flushed by hand (no timer).
    return running_gateway(ROUTES, waf_max_header_bytes=2048, usage_flush_seconds=3600)


async def problem(response: ClientResponse, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == PROBLEM
    body: dict[str, Any] = await response.json()
    assert body["status"] == status
    return body


async def admin(gw: Gateway, method: str, path: str, status: int, **kwargs: Any) -> Any:
    response = await gw.admin.request(method, path, headers=admin_headers(), **kwargs)
    assert response.status == status, await response.text()
    return await response.json() if response.status != 204 else None


def token(secret: str = JWT_SECRET, ttl: float = 300, **claims: Any) -> str:
    return issue_hs256({"sub": "user-7", **claims}, secret, ttl)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


async def test_api_key_lifecycle_limits_and_usage() -> None:
    async with running() as gw:
        plan = {"id": "starter", "name": "Starter", "rate": 0.01, "burst": 3, "quota_day": 100}
        await admin(gw, "POST", "/admin/plans", 201, json=plan)
        created = await admin(
            gw, "POST", "/admin/keys", 201, json={"name": "ci", "plan_id": "starter"}
        )
        key, key_id = created["key"], created["id"]
        assert key.startswith(f"sk_{key_id}_")

        assert (await gw.client.get("/keyed/echo")).status == 401  # no key on an api_key route

        first = await gw.client.get("/keyed/echo", headers={"X-API-Key": key})
        assert first.status == 200
        seen = (await first.json())["headers"]
        caller = caller_seen(seen)
        assert (caller.kind, caller.key_id, caller.plan_id) == ("api_key", key_id, "starter")
        assert key not in json.dumps(seen)  # the upstream never sees the key itself
        assert '"key";q=3' in first.headers["RateLimit-Policy"]
        assert '"quota-day";q=100;w=86400' in first.headers["RateLimit-Policy"]
        assert first.headers["RateLimit"].startswith('"key";r=2;')  # what is left

        second = await gw.client.get("/keyed/echo", headers={"Authorization": f"ApiKey {key}"})
        assert second.headers["RateLimit"].startswith('"key";r=1;')
        await gw.client.get("/keyed/echo", headers={"X-API-Key": key})
        refused = await gw.client.get("/keyed/echo", headers={"X-API-Key": key})
        body = await problem(refused, 429)
        assert body["limit"] == "key"
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.headers["RateLimit"].startswith('"key";r=0;')
        assert '"key";q=3' in refused.headers["RateLimit-Policy"]

        assert await gw.app[COMPONENTS].metering.flush() >= 1
        usage = await admin(gw, "GET", f"/admin/usage/{key_id}", 200)
        assert usage["routes"]["keyed"] == {"requests": 4, "throttled": 1, "quota_used": 3}
        assert usage["quotas"]["day"]["used"] == 3
        bus = gw.app[BUS]
        assert isinstance(bus, MemoryBus)
        published = [json.loads(r.value) for r in bus.records(USAGE_REPORTED.topic)]
        assert {"key_id": key_id, "route_id": "keyed", "requests": 4, "throttled": 1}.items() <= (
            published[-1].items()
        )
        assert (
            bus.records(USAGE_REPORTED.topic)[-1].header("ce_type") == USAGE_REPORTED.type.encode()
        )

        await admin(gw, "DELETE", f"/admin/keys/{key_id}", 204)
        revoked = await gw.client.get("/keyed/echo", headers={"X-API-Key": key})
        await problem(revoked, 401)
        assert "WWW-Authenticate" in revoked.headers


async def test_jwt_route_allows_and_denies() -> None:
    async with running() as gw:
        missing = await gw.client.get("/orders/echo")
        await problem(missing, 401)
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")

        expired = token(ttl=-3600, scope="orders:read")
        await problem(await gw.client.get("/orders/echo", headers=bearer(expired)), 401)
        forged = token(secret="another-secret-that-is-long-enough-000000", scope="orders:read")
        await problem(await gw.client.get("/orders/echo", headers=bearer(forged)), 401)

        valid = token(scope="orders:read profile", roles=["buyer"])
        allowed = await gw.client.get(
            "/orders/echo", headers={**bearer(valid), "X-Surge-User-Id": "admin"}
        )
        assert allowed.status == 200
        seen = (await allowed.json())["headers"]
        caller = caller_seen(seen)
        assert caller.kind == "jwt"
        assert caller.subject == "user-7"  # the client's own value was stripped
        assert caller.scopes == {"orders:read", "profile"}
        assert caller.roles == {"buyer"}

        narrow = token(scope="profile")
        body = await problem(await gw.client.get("/orders/echo", headers=bearer(narrow)), 403)
        assert "orders:read" in body["detail"]


async def test_queue_instead_of_reject_admits_a_burst_within_the_wait() -> None:
    async with running() as gw:
        burst = await asyncio.gather(*(gw.client.get("/queued/echo") for _ in range(6)))
        assert [response.status for response in burst] == [200] * 6
        registry = gw.app[METRICS].registry
        assert (registry.get_sample_value("gateway_queued_total") or 0) >= 4
        # Without a queue the same overflow is refused at once.
        assert (await gw.client.get("/strict/echo")).status == 200
        refused = await gw.client.get("/strict/echo")
        await problem(refused, 429)
        assert '"route";r=0;' in refused.headers["RateLimit"]


async def test_waf_blocks_and_limits() -> None:
    async with running() as gw:
        injected = await gw.client.get("/api/echo", params={"id": "1' OR '1'='1"})
        body = await problem(injected, 403)
        assert body["rule_id"].startswith("sqli-")
        assert body["rule_id"] in body["detail"]

        long_url = await gw.client.get("/api/echo?pad=" + "a" * 9000)
        assert (await problem(long_url, 414))["rule_id"] == "size-url"

        big_headers = {f"X-Pad-{n}": "b" * 200 for n in range(12)}
        too_big = await gw.client.get("/api/echo", headers=big_headers)
        assert (await problem(too_big, 431))["rule_id"] == "size-headers"

        invalid = await gw.client.post("/shop/echo", json={"sku": 7, "quantity": 0})
        body = await problem(invalid, 400)
        assert {error["field"] for error in body["errors"]} == {"sku", "quantity"}
        assert "sku" in body["detail"]
        assert "quantity" in body["detail"]
        ok = await gw.client.post("/shop/echo", json={"sku": "A-1", "quantity": 2})
        assert ok.status == 200


async def test_oversized_body_is_refused_before_it_is_sent() -> None:
    async with running() as gw:
        reader, writer = await asyncio.open_connection(gw.client.host, gw.client.port)
        try:
            # A 5 MB body announced, 2 bytes sent: the 413 must come without the rest.
            writer.write(
                b"POST /shop/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 5000000\r\n\r\n{}"
            )
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            body = json.loads(await asyncio.wait_for(reader.readexactly(length), 5))
        finally:
            writer.close()
            await writer.wait_closed()
        assert head.split()[1] == b"413"
        assert b"application/problem+json" in head.lower()
        assert body["rule_id"] == "size-body"
        assert gw.upstream.hits.get("echo", 0) == 0


async def test_cors_preflight_allowed_and_refused() -> None:
    async with running() as gw:
        allowed = await gw.client.options(
            "/shop/echo",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert allowed.status == 204
        assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
        refused = await gw.client.options(
            "/shop/echo",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        await problem(refused, 403)
        assert "Access-Control-Allow-Origin" not in refused.headers
        assert gw.upstream.hits.get("echo", 0) == 0  # preflights never reach the upstream
