"""Test helpers for the WAF/CORS tests: settings, a fake clock and a small gateway pipeline.

The pipeline runs the contract's order (WAF inspect, route match, CORS preflight, upstream
stand-in, decorate) on the gateway's real data plane (its framing and size limits included).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDictProxy
from prometheus_client import CollectorRegistry

from services.gateway.dataplane import cors
from services.gateway.dataplane.clientip import resolve
from services.gateway.dataplane.framing import FramingLimits, Head
from services.gateway.dataplane.headers import ResponseHeaders
from services.gateway.dataplane.response import Exchange
from services.gateway.dataplane.server import Handler, Plane
from services.gateway.request import ClientInfo
from services.gateway.routing.table import Route, RouteTable
from services.gateway.waf import Waf
from shared.http.problems import Problem
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


_SECURITY: dict[int, bool] = {}  # GATEWAY_SECURITY_HEADERS of each test's WAF settings


def make_waf(
    clock: ManualClock | None = None, registry: CollectorRegistry | None = None, **overrides: Any
) -> Waf:
    chosen = settings(**overrides)
    waf = Waf(
        chosen,
        clock=clock or ManualClock(),
        registry=registry if registry is not None else CollectorRegistry(),
    )
    _SECURITY[id(waf)] = chosen.security_headers
    return waf


def table(*routes: dict[str, Any]) -> RouteTable:
    return RouteTable.model_validate(
        {"upstreams": {"up": {"url": "http://127.0.0.1:1"}}, "routes": list(routes)}
    )


def route(**fields: Any) -> Route:
    return Route.model_validate({"id": "r", "prefix": "/", "upstream": "up", **fields})


def stand_in(waf: Waf, routes: RouteTable) -> Handler:
    """A stand-in for the gateway's pipeline on the real data plane: the upstream echoes how
    many body bytes it received."""
    security = cors.SecurityHeaders(enabled=_SECURITY.get(id(waf), True))

    async def handle(exchange: Exchange) -> None:
        request = exchange.request
        matched = routes.match(request.path, request.method) or routes.match_path(request.path)
        try:
            body = await waf.inspect(request, matched)
            if matched is None:
                raise Problem(404, "no route")
            preflight = cors.preflight(request, matched, security)
            if preflight is not None:
                exchange.respond(preflight.status, preflight.headers.lines, preflight.body)
                return
            if body is None:
                received = 0
                async for chunk in waf.stream_body(request, matched):
                    received += len(chunk)
            else:
                received = len(body)
        except web.HTTPException as exc:
            headers = ResponseHeaders.of(exc.headers.items())
            cors.decorate(request, headers, matched, security=security)
            exchange.respond(exc.status, headers.lines, bytes(exc.text or "", "utf-8"))
            return
        headers = ResponseHeaders.of([("Content-Type", "application/json")])
        cors.decorate(request, headers, matched, upstream=True, security=security)
        exchange.respond(200, headers.lines, json.dumps({"received": received}).encode())

    return handle


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

    def __init__(self, port: int, session: aiohttp.ClientSession) -> None:
        self.port = port
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
    limits = FramingLimits(
        max_target_bytes=waf.limits.max_url_bytes,
        max_header_bytes=waf.limits.max_header_bytes,
        max_headers=waf.limits.max_headers,
    )

    def client(peer: str, head: Head, secure: bool) -> ClientInfo:
        return resolve(peer, head.raw_headers, (), secure=secure)

    plane = Plane(stand_in(waf, routes), limits=limits, resolve=client)
    port = await plane.listen("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as session:
            yield Client(port, session)
    finally:
        await plane.stop(1.0)
