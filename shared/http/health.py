"""Liveness, readiness and metrics endpoints.

`/healthz` answers as long as the event loop runs. `/readyz` runs every registered check
(bus, store, consumers...) concurrently with a timeout and answers 503 naming the failing ones,
so an orchestrator stops sending traffic without restarting the process.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from shared.http.keys import METRICS, READINESS, SERVICE_NAME, ReadinessCheck
from shared.http.metrics import CONTENT_TYPE

CHECK_TIMEOUT_SECONDS = 3.0


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "service": request.app[SERVICE_NAME]})


async def run_check(check: ReadinessCheck) -> bool:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            return await check()
    except Exception:  # a failing check means "not ready", never a 500
        return False


async def readyz(request: web.Request) -> web.Response:
    checks = request.app[READINESS]
    results = await asyncio.gather(*(run_check(check) for check in checks.values()))
    status = dict(zip(checks, results, strict=True))
    ready = all(results)
    body = {"status": "ready" if ready else "not ready", "checks": status}
    return web.json_response(body, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[METRICS].render(), headers={"Content-Type": CONTENT_TYPE})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
