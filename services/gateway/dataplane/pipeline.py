"""The public catch-all handler: every request a client sends passes this pipeline.

client address -> route match -> WAF -> CORS preflight -> authentication -> rate limits and
quotas -> proxy (HTTP or WebSocket) -> usage metering. Errors raised on the way are problem+json
answers that still carry the route's CORS and the security headers, so browsers can read them.
"""

from __future__ import annotations

from aiohttp import web

from services.gateway.auth.identity import Identity
from services.gateway.components import COMPONENTS
from services.gateway.dataplane import cors
from services.gateway.dataplane.clientip import CLIENT, resolve
from services.gateway.dataplane.headers import upstream_request_headers
from services.gateway.dataplane.proxy import Body, forward
from services.gateway.dataplane.websocket import is_upgrade, proxy_websocket
from services.gateway.routing.table import Route
from shared.http.keys import HTTP_CLIENT, REQUEST_ID
from shared.http.problems import Problem


async def gateway(request: web.Request) -> web.StreamResponse:
    app = request.app
    trusted = app[COMPONENTS].trusted_proxies
    client = resolve(request, trusted)
    request[CLIENT] = client
    table = app[COMPONENTS].routing.table
    route = table.match(request.path, request.method) or table.match_path(request.path)
    waf = app[COMPONENTS].waf
    identity: Identity | None = None
    try:
        inspected = await waf.inspect(request, route)
        if route is None:
            raise Problem(404, f"no route matches {request.path[:200]!r}")
        preflight = cors.preflight(request, route, security=waf.security_headers)
        if preflight is not None:
            return preflight
        identity = await app[COMPONENTS].auth.authenticate(request, route)
        if route.protected_zone is not None:  # waiting-room access token (zones.py)
            await app[COMPONENTS].zones.guard(request, route, identity)
        admission = await app[COMPONENTS].limiter.admit(
            request, route, identity, global_limit=table.global_rate_limit
        )
    except web.HTTPException as exc:
        if exc.status == 429 and identity is not None and route is not None:
            app[COMPONENTS].metering.record(identity, route, exc.status, throttled=True)
        cors.decorate(request, exc, route, security=waf.security_headers)
        raise
    routing = app[COMPONENTS].routing
    upstream = routing.upstreams[route.upstream]
    headers = upstream_request_headers(
        request, client, request[REQUEST_ID], identity.headers(), keep_length=inspected is None
    )
    session = app[HTTP_CLIENT]
    try:
        if route.websocket and is_upgrade(request):
            return await proxy_websocket(request, session, route, upstream, headers)

        def decorate(response: web.StreamResponse) -> None:
            response.headers.update(admission.headers())
            cors.decorate(request, response, route, upstream=True, security=waf.security_headers)

        response = await forward(
            request, session, route, upstream, headers, _body(request, route, inspected), decorate
        )
    except web.HTTPException as exc:
        exc.headers.update(admission.headers())
        cors.decorate(request, exc, route, security=waf.security_headers)
        app[COMPONENTS].metering.record(identity, route, exc.status, throttled=False)
        raise
    app[COMPONENTS].metering.record(identity, route, response.status, throttled=False)
    return response


def _body(request: web.Request, route: Route, inspected: bytes | None) -> Body:
    if inspected is not None:
        return inspected
    if not request.body_exists:
        return None
    waf = request.app[COMPONENTS].waf
    return lambda: waf.stream_body(request, route)
