"""The shared aiohttp runtime: health, readiness, metrics, request ids, problem+json errors."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.core import GaugeMetricFamily, Metric

from shared.bus.memory import MemoryBus
from shared.http.app import add_readiness, create_app
from shared.http.identity import IDENTITY_HEADER, caller_of, user_id
from shared.http.keys import BUS, METRICS, STORE
from shared.http.problems import Problem
from shared.security.identity import IdentityKeys
from shared.settings import PlatformSettings, ServiceSettings
from tests.identity_support import FORGED, anonymous, as_service, as_user, signed

pytestmark = pytest.mark.unit


async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("secret internals /etc/passwd")


async def refuse(request: web.Request) -> web.Response:
    raise Problem(409, "already there", extra={"id": "x"})


async def echo(request: web.Request) -> web.Response:
    return web.json_response({"size": len(await request.read())})


async def redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/elsewhere")


async def whoami(request: web.Request) -> web.Response:
    caller = caller_of(request)
    return web.json_response({"kind": caller.kind, "subject": caller.subject})


async def me(request: web.Request) -> web.Response:
    return web.json_response({"user": user_id(request)})


@asynccontextmanager
async def client(
    max_request_bytes: int = 1024, *, headers: dict[str, str] | None = None
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """The demo service; every request signed as through the gateway unless `headers`."""
    settings = ServiceSettings(max_request_bytes=max_request_bytes)
    app = create_app(
        "demo",
        settings,
        bus=lambda _p, _s: MemoryBus(),
        store=True,
        identity_exempt=["/demo/admin/"],
    )
    app.router.add_get("/boom", boom)
    app.router.add_get("/refuse", refuse)
    app.router.add_post("/echo", echo)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/whoami", whoami)
    app.router.add_get("/me", me)
    app.router.add_get("/demo/admin/whoami", whoami)
    signed = anonymous("demo") if headers is None else headers
    async with TestClient(TestServer(app), headers=signed) as test_client:
        yield test_client


async def test_healthz_and_readyz_report_the_bus_and_store() -> None:
    async with client() as c:
        assert (await c.get("/healthz")).status == 200
        ready = await c.get("/readyz")
        assert ready.status == 200
        assert (await ready.json())["checks"] == {"bus": True, "store": True}
        assert c.app is not None
        assert await c.app[STORE].ping()


async def test_readyz_is_503_when_a_dependency_is_down() -> None:
    async with client() as c:
        assert c.app is not None
        await c.app[BUS].stop()
        ready = await c.get("/readyz")
        assert ready.status == 503
        assert (await ready.json())["checks"]["bus"] is False


async def test_a_hanging_check_fails_readiness_instead_of_hanging() -> None:
    async with client() as c:
        assert c.app is not None

        async def hangs() -> bool:
            await asyncio.Event().wait()
            return True

        add_readiness(c.app, "hangs", hangs)
        import shared.http.health as health

        previous = health.CHECK_TIMEOUT_SECONDS
        health.CHECK_TIMEOUT_SECONDS = 0.05
        try:
            ready = await c.get("/readyz")
        finally:
            health.CHECK_TIMEOUT_SECONDS = previous
        assert ready.status == 503
        assert (await ready.json())["checks"]["hangs"] is False


async def test_unhandled_errors_are_problem_json_without_internals() -> None:
    async with client() as c:
        response = await c.get("/boom")
        assert response.status == 500
        assert response.content_type == "application/problem+json"
        body = await response.json()
        assert set(body) >= {"type", "title", "status", "detail"}
        assert "passwd" not in json.dumps(body)
        assert response.headers["X-Request-ID"] in body["detail"]


async def test_problems_and_aiohttp_errors_are_problem_json() -> None:
    async with client() as c:
        refused = await c.get("/refuse")
        assert refused.status == 409
        assert (await refused.json())["id"] == "x"
        missing = await c.get("/missing")
        assert missing.status == 404
        assert missing.content_type == "application/problem+json"
        wrong = await c.delete("/echo")
        assert wrong.status == 405
        assert wrong.content_type == "application/problem+json"
        assert "POST" in wrong.headers["Allow"]


async def test_redirects_pass_through() -> None:
    async with client() as c:
        response = await c.get("/redirect", allow_redirects=False)
        assert response.status == 302
        assert response.headers["Location"] == "/elsewhere"


async def test_oversized_bodies_are_413_before_reading() -> None:
    async with client(max_request_bytes=10) as c:
        assert (await c.post("/echo", data=b"x" * 10)).status == 200
        response = await c.post("/echo", data=b"x" * 11)
        assert response.status == 413
        assert response.content_type == "application/problem+json"


async def test_request_ids_are_kept_when_safe_and_replaced_when_not() -> None:
    async with client() as c:
        kept = await c.get("/healthz", headers={"X-Request-ID": "abc-123-def-456"})
        assert kept.headers["X-Request-ID"] == "abc-123-def-456"
        replaced = await c.get("/healthz", headers={"X-Request-ID": "bad id\twith junk"})
        assert replaced.headers["X-Request-ID"] != "bad id\twith junk"
        assert len(replaced.headers["X-Request-ID"]) == 32


async def test_metrics_count_requests_by_route_and_status() -> None:
    async with client() as c:
        assert c.app is not None

        def lag() -> list[Metric]:
            gauge = GaugeMetricFamily("consumer_lag", "lag", labels=["topic"])
            gauge.add_metric(["t"], 7)
            return [gauge]

        c.app[METRICS].add_collector(lag)
        await c.get("/healthz")
        await c.get("/boom")
        text = await (await c.get("/metrics")).text()
        assert 'http_server_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
        assert 'http_server_errors_total{method="GET",route="/boom"} 1.0' in text
        assert 'consumer_lag{topic="t"} 7.0' in text


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "identity_missing"),
        ({IDENTITY_HEADER: "not-a-token"}, "identity_malformed"),
        ({"X-Surge-User-Id": "admin", "X-Surge-Identity-Kind": "jwt"}, "identity_missing"),
        (signed("demo", "jwt", "ann", keys=FORGED), "identity_bad_signature"),
        (signed("demo", "jwt", "ann", now=time.time() - 120), "identity_expired"),
        (signed("other", "jwt", "ann"), "identity_bad_audience"),
    ],
    ids=["missing", "malformed", "unsigned", "forged", "expired", "other-audience"],
)
async def test_a_request_without_a_valid_signed_caller_is_401(
    headers: dict[str, str], reason: str
) -> None:
    async with client(headers={}) as c:
        for path in ("/whoami", "/missing", "/boom"):  # before routing decides anything
            response = await c.get(path, headers=headers)
            assert response.status == 401, path
            assert response.content_type == "application/problem+json"
            assert (await response.json())["reason"] == reason
            assert response.headers["WWW-Authenticate"].startswith("SurgeIdentity")
        for open_path in ("/healthz", "/readyz", "/metrics", "/demo/admin/whoami"):
            assert (await c.get(open_path, headers=headers)).status == 200, open_path


async def test_an_unknown_key_id_and_an_unsigned_token_are_refused() -> None:
    other_kid = signed("demo", "jwt", "ann", keys=IdentityKeys.parse("zz:" + "k" * 40))
    header, payload, _ = signed("demo", "jwt", "ann")[IDENTITY_HEADER].split(".")
    unsigned = {IDENTITY_HEADER: f"{header}.{payload}."}
    none_alg = {IDENTITY_HEADER: jwt.encode({"aud": "demo", "kind": "jwt"}, "", "none")}
    async with client(headers={}) as c:
        for headers, reason in (
            (other_kid, "identity_unknown_key"),
            (unsigned, "identity_bad_signature"),
            (none_alg, "identity_malformed"),
        ):
            response = await c.get("/whoami", headers=headers)
            assert response.status == 401
            assert (await response.json())["reason"] == reason


async def test_the_verified_caller_reaches_the_handler() -> None:
    async with client() as c:
        assert await (await c.get("/whoami")).json() == {"kind": "anonymous", "subject": None}
        ann = await c.get("/whoami", headers=as_user("demo", "ann"))
        assert await ann.json() == {"kind": "jwt", "subject": "ann"}
        assert await (await c.get("/me", headers=as_user("demo", "ann"))).json() == {"user": "ann"}
        shop = await c.get("/whoami", headers=as_service("demo", "shop"))
        assert await shop.json() == {"kind": "service", "subject": "shop"}
        for nobody in ({}, as_service("demo", "shop")):  # anonymous, or a service: no user
            refused = await c.get("/me", headers=nobody)
            assert refused.status == 401
            assert (await refused.json())["reason"] == "user_required"
        # exempt paths are not verified, so nobody is named there
        exempt = await c.get("/demo/admin/whoami", headers=as_user("demo", "ann"))
        assert (await exempt.json())["kind"] == "anonymous"


def test_a_service_refuses_to_start_without_identity_keys() -> None:
    platform = PlatformSettings(identity_keys=None)
    with pytest.raises(ValueError, match="IDENTITY_KEYS is not set"):
        create_app("demo", ServiceSettings(platform=platform))
