"""The admin API: a separate app on its own port (GATEWAY_ADMIN_PORT), behind ADMIN_TOKEN.

It shares the public app's live objects (route table, WAF, key store, limiter, metering), copied
onto it at start-up, so what an operator changes here is what the public port serves.

GET  /admin/routes            the live route table and its version
POST /admin/routes/reload     re-read the route source; 422 problem (old table kept) if invalid
PUT  /admin/routes            validate and apply a YAML/JSON table sent in the body
"""

from __future__ import annotations

import logging
import os
import signal
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from services.gateway.admin import keys as admin_keys
from services.gateway.components import COMPONENTS
from services.gateway.openapi import public as openapi
from services.gateway.routing.live import RouteTableError
from services.gateway.waf import admin as waf_admin
from shared.http import health
from shared.http.adminauth import check_admin_token
from shared.http.keys import METRICS, READINESS, SERVICE_NAME, SETTINGS
from shared.http.metrics import Metrics
from shared.http.middleware import observe, stamp_request_id
from shared.http.problems import Problem
from shared.http.run import WORKER_ENV

log = logging.getLogger("gateway.admin")
routes = web.RouteTableDef()
MAX_TABLE_BYTES = 1024 * 1024
_OPEN = frozenset({"/healthz", "/readyz"})


@web.middleware
async def require_admin_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in _OPEN:
        return await handler(request)
    check_admin_token(request)
    return await handler(request)


def _describe(request: web.Request) -> dict[str, Any]:
    routing = request.app[COMPONENTS].routing
    table = routing.table.model_dump(mode="json")
    breakers = {name: state.breaker.state.value for name, state in routing.upstreams.items()}
    return {"version": routing.version, "table": table, "breakers": breakers}


@routes.get("/admin/routes")
async def get_routes(request: web.Request) -> web.Response:
    return web.json_response(_describe(request))


@routes.post("/admin/routes/reload")
async def reload_routes(request: web.Request) -> web.Response:
    return _apply(request, None)


@routes.put("/admin/routes")
async def put_routes(request: web.Request) -> web.Response:
    body = await request.read()
    if len(body) > MAX_TABLE_BYTES:
        raise Problem(413, f"a route table is at most {MAX_TABLE_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Problem(400, "the route table must be UTF-8 YAML or JSON") from None
    return _apply(request, text)


def _apply(request: web.Request, text: str | None) -> web.Response:
    several_workers = WORKER_ENV in os.environ
    if text is not None and several_workers:
        raise Problem(
            409,
            "with several workers a table sent in the body would reach one worker only: "
            "edit the route file and POST /admin/routes/reload",
        )
    try:
        request.app[COMPONENTS].routing.reload(text)
    except RouteTableError as exc:
        log.warning("route reload refused: %s", exc)
        raise Problem(422, f"{exc}; the running table is unchanged") from None
    if several_workers:
        os.kill(os.getppid(), signal.SIGHUP)  # the supervisor forwards it to every worker
    return web.json_response(_describe(request))


def init_admin_app(public: web.Application) -> web.Application:
    app = web.Application(
        middlewares=[observe, require_admin_token], client_max_size=MAX_TABLE_BYTES
    )
    app[SERVICE_NAME] = "gateway-admin"
    app[SETTINGS] = public[SETTINGS]
    app[METRICS] = Metrics("gateway-admin")
    app[READINESS] = {}
    app.on_response_prepare.append(stamp_request_id)
    app[COMPONENTS] = public[COMPONENTS]
    health.add_routes(app)
    app.add_routes(routes)
    app.add_routes(waf_admin.routes)
    app.add_routes(admin_keys.routes)
    app.router.add_get("/openapi.json", openapi.serve_admin)  # behind the token too
    return app
