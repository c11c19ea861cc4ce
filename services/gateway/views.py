"""The public catch-all handler: every request a client sends passes this pipeline.

client address -> route match -> WAF -> CORS preflight -> authentication -> rate limits and
quotas -> proxy (HTTP or WebSocket) -> usage metering. Errors raised on the way are problem+json
answers that still carry the route's CORS and the security headers, so browsers can read them.
"""

from __future__ import annotations

from aiohttp import web

from services.gateway import cors, keys
from services.gateway.clientip import CLIENT, resolve
from services.gateway.headers import upstream_request_headers
from services.gateway.identity import Identity
from services.gateway.proxy import Body, forward
from services.gateway.routetable import Route
from services.gateway.websocket import is_upgrade, proxy_websocket
from shared.http.identity import IDENTITIES
from shared.http.keys import HTTP_CLIENT, REQUEST_ID
from shared.http.problems import Problem


async def gateway(request: web.Request) -> web.StreamResponse:
    app = request.app
    trusted = app[keys.TRUSTED_PROXIES]
    client = resolve(request, trusted)
    request[CLIENT] = client
    table = app[keys.ROUTING].table
    route = table.match(request.path, request.method) or table.match_path(request.path)
    waf = app[keys.WAF]
    identity: Identity | None = None
    try:
        inspected = await waf.inspect(request, route)
        if route is None:
            raise Problem(404, f"no route matches {request.path[:200]!r}")
        preflight = cors.preflight(request, route, security=waf.security_headers)
        if preflight is not None:
            return preflight
        identity = await app[keys.AUTH].authenticate(request, route)
        if route.protected_zone is not None:  # waiting-room access token (zones.py)
            await app[keys.ZONES].guard(request, route, identity)
        admission = await app[keys.LIMITER].admit(
            request, route, identity, global_limit=table.global_rate_limit
        )
    except web.HTTPException as exc:
        if exc.status == 429 and identity is not None and route is not None:
            app[keys.METERING].record(identity, route, exc.status, throttled=True)
        cors.decorate(request, exc, route, security=waf.security_headers)
        raise
    routing = app[keys.ROUTING]
    upstream = routing.upstreams[route.upstream]
    assertion = app[IDENTITIES].assertion(identity, upstream.audience)  # cached, not signed
    headers = upstream_request_headers(
        request, client, request[REQUEST_ID], assertion, keep_length=inspected is None
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
        app[keys.METERING].record(identity, route, exc.status, throttled=False)
        raise
    app[keys.METERING].record(identity, route, response.status, throttled=False)
    return response


def _body(request: web.Request, route: Route, inspected: bytes | None) -> Body:
    if inspected is not None:
        return inspected
    if not request.body_exists:
        return None
    waf = request.app[keys.WAF]
    return lambda: waf.stream_body(request, route)
