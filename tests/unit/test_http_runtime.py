"""The shared aiohttp runtime: health, readiness, metrics, request ids, problem+json errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.core import GaugeMetricFamily, Metric

from shared.bus.memory import MemoryBus
from shared.http.app import add_readiness, create_app
from shared.http.keys import BUS, METRICS, STORE
from shared.http.problems import Problem
from shared.settings import ServiceSettings

pytestmark = pytest.mark.unit


async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("secret internals /etc/passwd")


async def refuse(request: web.Request) -> web.Response:
    raise Problem(409, "already there", extra={"id": "x"})


async def echo(request: web.Request) -> web.Response:
    return web.json_response({"size": len(await request.read())})


async def redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/elsewhere")


@asynccontextmanager
async def client(
    max_request_bytes: int = 1024,
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    settings = ServiceSettings(max_request_bytes=max_request_bytes)
    app = create_app("demo", settings, bus=lambda _p, _s: MemoryBus(), store=True)
    app.router.add_get("/boom", boom)
    app.router.add_get("/refuse", refuse)
    app.router.add_post("/echo", echo)
    app.router.add_get("/redirect", redirect)
    async with TestClient(TestServer(app)) as test_client:
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
