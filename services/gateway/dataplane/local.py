"""What the public port answers itself: liveness, readiness, metrics and its OpenAPI document
(the same paths every aiohttp service serves through `create_app`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from aiohttp import web

from services.gateway.dataplane.response import Exchange
from services.gateway.openapi.public import build_public
from shared.http.health import run_check
from shared.http.keys import METRICS, READINESS, SERVICE_NAME
from shared.http.metrics import CONTENT_TYPE

LocalHandler = Callable[[Exchange], Awaitable[int]]
_JSON = b"application/json; charset=utf-8"


def _json(exchange: Exchange, status: int, body: object) -> int:
    exchange.respond(status, [(b"Content-Type", _JSON)], json.dumps(body).encode())
    return status


def local_routes(app: web.Application) -> dict[str, LocalHandler]:
    service = app[SERVICE_NAME]
    metrics = app[METRICS]
    checks = app[READINESS]

    async def healthz(exchange: Exchange) -> int:
        return _json(exchange, 200, {"status": "ok", "service": service})

    async def readyz(exchange: Exchange) -> int:
        results = await asyncio.gather(*(run_check(check) for check in checks.values()))
        status = dict(zip(checks, results, strict=True))
        ready = all(results)
        body = {"status": "ready" if ready else "not ready", "checks": status}
        return _json(exchange, 200 if ready else 503, body)

    async def render_metrics(exchange: Exchange) -> int:
        exchange.respond(200, [(b"Content-Type", CONTENT_TYPE.encode())], metrics.render())
        return 200

    async def openapi(exchange: Exchange) -> int:
        return _json(exchange, 200, build_public())

    return {
        "/healthz": healthz,
        "/readyz": readyz,
        "/metrics": render_metrics,
        "/openapi.json": openapi,
    }
