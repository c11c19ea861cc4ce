"""Test helpers for the WAF/CORS tests: settings, a fake clock and a small gateway pipeline.

The pipeline runs the contract's order (WAF inspect, route match, CORS preflight, upstream
stand-in, decorate) on a real aiohttp server started with the WAF's `handler_args`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDictProxy
from prometheus_client import CollectorRegistry

from services.gateway.dataplane import cors
from services.gateway.routing.table import Route, RouteTable
from services.gateway.waf import Waf
from tests.clock import ManualClock


@dataclass(frozen=True)
class WafTestSettings:
    """The GATEWAY_WAF_* defaults (services/gateway/settings.py), overridable per test."""

    waf_allow_cidrs: str = ""
    waf_deny_cidrs: str = ""
    waf_rate_limit: int = 2000
    waf_rate_window_seconds: float = 300.0
    waf_rate_block_seconds: float = 300.0
    waf_rate_max_tracked_ips: int = 100_000
    waf_report_only_rules: str = ""
    waf_disabled_rules: str = ""
    waf_max_url_bytes: int = 8192
    waf_max_header_bytes: int = 16384
    waf_max_headers: int = 100
    waf_max_body_bytes: int = 10 * 1024 * 1024
    waf_body_inspect_bytes: int = 16384
    waf_body_oversize: str = "continue"
    security_headers: bool = True


def settings(**overrides: Any) -> WafTestSettings:
    return replace(WafTestSettings(), **overrides)


def make_waf(
    clock: ManualClock | None = None, registry: CollectorRegistry | None = None, **overrides: Any
) -> Waf:
    return Waf(
        settings(**overrides),
        clock=clock or ManualClock(),
        registry=registry if registry is not None else CollectorRegistry(),
    )


def table(*routes: dict[str, Any]) -> RouteTable:
    return RouteTable.model_validate(
        {"upstreams": {"up": {"url": "http://127.0.0.1:1"}}, "routes": list(routes)}
    )


def route(**fields: Any) -> Route:
    return Route.model_validate({"id": "r", "prefix": "/", "upstream": "up", **fields})


def gateway_app(waf: Waf, routes: RouteTable) -> web.Application:
    """A stand-in for the gateway: the upstream echoes how many body bytes it received."""

    async def handle(request: web.Request) -> web.StreamResponse:
        matched = routes.match(request.path, request.method) or routes.match_path(request.path)
        try:
            body = await waf.inspect(request, matched)
            if matched is None:
                raise web.HTTPNotFound()
            preflight = cors.preflight(request, matched, waf.security_headers)
            if preflight is not None:
                return preflight
            if body is None:
                received = 0
                async for chunk in waf.stream_body(request, matched):
                    received += len(chunk)
            else:
                received = len(body)
        except web.HTTPException as exc:
            cors.decorate(request, exc, matched, security=waf.security_headers)
            raise
        response = web.json_response({"received": received})
        cors.decorate(request, response, matched, upstream=True, security=waf.security_headers)
        return response

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


@dataclass(frozen=True)
class Reply:
    status: int
    headers: CIMultiDictProxy[str]
    content_type: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """Requests to the test server, read whole (so a test never nests context managers)."""

    def __init__(self, server: TestServer, session: aiohttp.ClientSession) -> None:
        self.server = server
        self._session = session

    async def request(self, method: str, path: str, **kwargs: Any) -> Reply:
        async with self._session.request(method, path, **kwargs) as response:
            body = await response.read()
            return Reply(response.status, response.headers, response.content_type, body)

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("POST", path, **kwargs)

    async def options(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("OPTIONS", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("DELETE", path, **kwargs)


@asynccontextmanager
async def serve(waf: Waf, routes: RouteTable) -> AsyncIterator[Client]:
    server = TestServer(gateway_app(waf, routes))
    await server.start_server(**waf.handler_args)  # what G1's runner must pass too
    try:
        async with aiohttp.ClientSession(base_url=server.make_url("/")) as session:
            yield Client(server, session)
    finally:
        await server.close()
