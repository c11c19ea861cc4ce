"""Every request a client sends passes this pipeline (the data plane's handler).

request id and server span -> operational paths (/healthz, /readyz, /metrics, /openapi.json) ->
route match -> WAF -> CORS preflight -> authentication -> zone gatekeeping -> rate limits and
quotas -> proxy (HTTP or WebSocket tunnel) -> usage metering, metrics and the access log.
Errors raised on the way are problem+json answers that still carry the route's CORS and the
security headers (and the RateLimit headers once admitted), so browsers can read them.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode

from services.gateway.auth.identity import Identity
from services.gateway.components import Components
from services.gateway.dataplane import cors
from services.gateway.dataplane.headers import ResponseHeaders, upstream_head
from services.gateway.dataplane.proxy import Body, forward, pool_key
from services.gateway.dataplane.response import Exchange
from services.gateway.dataplane.tunnel import is_websocket_upgrade, tunnel
from services.gateway.dataplane.upstream import Pool
from services.gateway.limits.headers import Admission
from services.gateway.request import Request
from services.gateway.routing.live import UpstreamState
from services.gateway.routing.table import Route
from shared.http.identity import IDENTITY_HEADER
from shared.http.metrics import Metrics
from shared.http.problems import Problem
from shared.telemetry import w3c

REQUEST_ID_HEADER = "X-Request-ID"
PROXY_ROUTE = "/{tail}"  # the metrics/span route label of proxied requests
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
_ROOT = Context()
_IDENTITY_NAME = IDENTITY_HEADER.encode()
_MAX_LINES = 10_000
_ERROR = Status(StatusCode.ERROR)
access_log = logging.getLogger("access")
error_log = logging.getLogger("gateway.errors")
_tracer = trace.get_tracer("shared.http")
LocalHandler = Callable[[Exchange], Awaitable[int]]


def request_id(request: Request) -> str:
    incoming = request.headers.get(REQUEST_ID_HEADER)
    if incoming is not None and _SAFE_ID.match(incoming):
        return incoming
    return os.urandom(16).hex()


def _parent(request: Request) -> Context:
    """The remote parent, parsed only when a propagation header came: most requests have none."""
    headers = request.headers
    for name in propagate.get_global_textmap().fields:
        if name in headers:
            return w3c.extract(headers)
    return _ROOT


class Pipeline:
    def __init__(
        self,
        parts: Components,
        metrics: Metrics,
        local: dict[str, LocalHandler] | None = None,
    ) -> None:
        self.parts = parts
        self.metrics = metrics
        self.local = local or {}
        self.security = cors.SecurityHeaders(enabled=parts.settings.security_headers)
        self._pools: dict[str, tuple[UpstreamState, Pool]] = {}
        self._lines: dict[str, list[tuple[bytes, bytes]]] = {}  # signed value -> header line

    async def __call__(self, exchange: Exchange) -> None:
        request = exchange.request
        request.request_id = request_id(request)
        method = request.method
        started = time.perf_counter()
        local = self.local.get(request.path) if method in ("GET", "HEAD") else None
        label = request.path if local is not None else PROXY_ROUTE
        parent = _parent(request)
        span = _tracer.start_span(
            f"{method} {label}",
            context=parent,
            kind=SpanKind.SERVER,
            # A trace starts here: the sampling rules match on method and path. A request with
            # a parent follows the parent's decision, so it builds nothing for the sampler.
            attributes={"http.request.method": method, "url.path": request.path}
            if parent is _ROOT
            else None,
            record_exception=False,
            set_status_on_exception=False,
        )
        recording = span.is_recording()
        if recording:
            span.set_attributes(
                {"http.request.method": method, "http.route": label, "server.address": request.host}
            )
        answered: Callable[[], None] | None = None
        if request.upgrade:  # a WebSocket: the request is answered at the 101, not at the close

            def answered() -> None:
                self._answered(exchange, span, recording, label, started)

        try:
            if local is not None:
                await local(exchange)
            else:
                await self._proxy(exchange, trace.set_span_in_context(span), answered)
        finally:
            if answered is None or exchange.status != 101:  # a 101 was answered already
                self._answered(exchange, span, recording, label, started)

    def _answered(
        self, exchange: Exchange, span: trace.Span, recording: bool, label: str, started: float
    ) -> None:
        """The request's span, metrics and access log, once its answer is out."""
        request = exchange.request
        status = exchange.status or 500
        if recording:
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(_ERROR)
        span.end()
        elapsed = time.perf_counter() - started
        self.metrics.observe(label, request.method, status, elapsed)
        if access_log.isEnabledFor(logging.INFO):
            _log_access(request, label, status, elapsed)

    async def _proxy(
        self, exchange: Exchange, context: Context, answered: Callable[[], None] | None = None
    ) -> None:
        parts = self.parts
        request = exchange.request
        table = parts.routing.table
        route = table.match(request.path, request.method) or table.match_path(request.path)
        identity: Identity | None = None
        admission: Admission | None = None
        try:
            waf = parts.waf
            inspected = await waf.inspect(request, route)
            if route is None:
                raise Problem(404, f"no route matches {request.path[:200]!r}")
            preflight = cors.preflight(request, route, self.security)
            if preflight is not None:
                self._stamp(request, preflight.headers)
                exchange.respond(preflight.status, preflight.headers.lines, preflight.body)
                return
            identity = await parts.auth.authenticate(request, route)
            if route.protected_zone is not None:  # waiting-room access token (auth/zones.py)
                await parts.zones.guard(request, route, identity)
            admission = await parts.limiter.admit(
                request, route, identity, global_limit=table.global_rate_limit
            )
            upstream = parts.routing.upstreams[route.upstream]
            pool = self._pool(upstream)
            admitted = admission.headers()

            def decorate(status: int, headers: ResponseHeaders) -> None:
                headers.update(admitted.items())
                cors.decorate(request, headers, route, upstream=True, security=self.security)
                self._stamp(request, headers)

            websocket = route.websocket and is_websocket_upgrade(request)
            head = upstream_head(
                request,
                _upstream_path(route, request),
                upstream.host_header,
                request.client,
                self._assertion(identity, upstream.audience),
                upgrade=websocket,
            )
            if websocket:
                status = await tunnel(
                    exchange, route, upstream, pool, head, decorate, context, answered
                )
            else:
                if request.upgrade:  # an upgrade we do not tunnel: answer, then close
                    exchange.close_after = True
                body = _body(parts, request, route, inspected)
                status = await forward(
                    exchange, route, upstream, pool, head, body, decorate, context
                )
        except web.HTTPException as exc:
            status = exc.status
            if status == 429 and identity is not None and route is not None and admission is None:
                parts.metering.record(identity, route, status, throttled=True)
            elif identity is not None and route is not None and admission is not None:
                parts.metering.record(identity, route, status, throttled=False)
            self._answer_error(exchange, exc, route, admission)
            return
        parts.metering.record(identity, route, status, throttled=False)

    def _answer_error(
        self,
        exchange: Exchange,
        exc: web.HTTPException,
        route: Route | None,
        admission: Admission | None,
    ) -> None:
        if exchange.head_sent:  # the answer had begun: cut it rather than append an error
            exchange.fail()
            return
        request = exchange.request
        headers = ResponseHeaders.of(exc.headers.items())
        if admission is not None:
            headers.update(admission.headers().items())
        cors.decorate(request, headers, route, security=self.security)
        self._stamp(request, headers)
        body = exc.body if isinstance(exc.body, bytes) else (exc.text or "").encode()
        if exc.status >= 400 and exc.status != 429:
            error_log.debug("answered %d to %s %s", exc.status, request.method, request.path)
        exchange.respond(exc.status, headers.lines, body)

    def _assertion(self, identity: Identity, audience: str) -> list[tuple[bytes, bytes]]:
        """The signed `X-Surge-Identity` for this upstream: re-signed once per half life per
        caller and audience (the signer's cache), so most requests only look it up."""
        signed = self.parts.identities.assertion(identity, audience)[IDENTITY_HEADER]
        line = self._lines.get(signed)
        if line is None:
            if len(self._lines) >= _MAX_LINES:
                self._lines.clear()
            line = self._lines[signed] = [(_IDENTITY_NAME, signed.encode())]
        return line

    @staticmethod
    def _stamp(request: Request, headers: ResponseHeaders) -> None:
        headers.add(REQUEST_ID_HEADER, request.request_id)

    def _pool(self, upstream: UpstreamState) -> Pool:
        known = self._pools.get(upstream.name)
        if known is not None and known[0] is upstream:
            return known[1]
        if known is not None:
            known[1].close()  # the upstream's settings changed with a reload
        pool = Pool(*pool_key(upstream))
        self._pools[upstream.name] = (upstream, pool)
        return pool

    def sweep(self) -> None:
        now = time.monotonic()
        for _, pool in self._pools.values():
            pool.sweep(now)

    def close(self) -> None:
        for _, pool in self._pools.values():
            pool.close()
        self._pools.clear()


def _upstream_path(route: Route, request: Request) -> bytes:
    path = request.raw_path
    if route.strip_prefix:
        path = path[len(route.prefix.rstrip("/")) :] or "/"
        if not path.startswith("/"):
            path = "/" + path
    if request.query_string:
        path = f"{path}?{request.query_string}"
    return path.encode("ascii")


def _body(parts: Components, request: Request, route: Route, inspected: bytes | None) -> Body:
    if inspected is not None:
        return inspected
    if not request.body_exists:
        return None
    waf = parts.waf
    return lambda: waf.stream_body(request, route)


def _log_access(request: Request, route: str, status: int, elapsed: float) -> None:
    access_log.info(
        "%s %s %d",
        request.method,
        request.path,
        status,
        extra={
            "request_id": request.request_id,
            "method": request.method,
            "path": request.path,
            "route": route,
            "status": status,
            "duration_ms": round(elapsed * 1000, 3),
            "remote": request.client.address,
        },
    )
