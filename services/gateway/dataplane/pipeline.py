"""Every request a client sends passes this pipeline (the data plane's handler).

request id and server span -> operational paths (/healthz, /readyz, /metrics, /openapi.json) ->
route match -> WAF -> CORS preflight -> authentication -> zone gatekeeping -> rate limits and
quotas -> proxy (HTTP or WebSocket tunnel) -> usage metering, metrics and the access log.
Errors raised on the way are problem+json answers that still carry the route's CORS and the
security headers (and the RateLimit headers once admitted), so browsers can read them.

Two ways through it, with one behaviour. `begin` runs the stages in the client's read callback
for as long as none has to wait: a request without a body, its bearer token already verified,
a token free in every bucket, an idle pooled upstream connection (flight.py relays the answer
from the upstream's callbacks). At the first stage that must wait (a body to read, a token or
API key to look up, a zone to check, a queue, a connection to open, a retry), the rest of the
pipeline runs in a task from that stage on (`_run`). Most requests under load never need one.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from opentelemetry.trace import Status, StatusCode

from services.gateway.components import Components
from services.gateway.dataplane import cors
from services.gateway.dataplane.flight import Flight
from services.gateway.dataplane.headers import ResponseHeaders, upstream_head
from services.gateway.dataplane.proxy import Body, forward, pool_key
from services.gateway.dataplane.response import Exchange
from services.gateway.dataplane.tracing import Dropped, ServerSpans
from services.gateway.dataplane.tunnel import is_websocket_upgrade, tunnel
from services.gateway.dataplane.upstream import Pool
from services.gateway.request import Request
from services.gateway.routing.live import UpstreamState
from services.gateway.routing.table import Route
from shared.http.identity import IDENTITY_HEADER
from shared.http.metrics import Metrics
from shared.http.problems import Problem

REQUEST_ID_HEADER = "X-Request-ID"
PROXY_ROUTE = "/{tail}"  # the metrics/span route label of proxied requests
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
_IDENTITY_NAME = IDENTITY_HEADER.encode()
_MAX_LINES = 10_000
_LOCAL_METHODS = frozenset({"GET", "HEAD"})
_ERROR = Status(StatusCode.ERROR)
access_log = logging.getLogger("access")
error_log = logging.getLogger("gateway.errors")
LocalHandler = Callable[[Exchange], Awaitable[int]]

# Where the asynchronous part of a request starts (the stages before it are done).
WAF, AUTH, ZONES, LIMITS, PROXY, RETRY = range(6)


class _Ids:
    """Request ids: 128 random bits each, from one `os.urandom` read per 256 of them."""

    def __init__(self) -> None:
        self._pool = b""
        self._at = 0

    def new(self) -> str:
        at = self._at
        if at >= len(self._pool):
            self._pool, at = os.urandom(4096), 0
        self._at = at + 16
        return self._pool[at : at + 16].hex()


_ids = _Ids()


def request_id(request: Request) -> str:
    incoming = request.header(b"x-request-id")
    if incoming is not None and _SAFE_ID.match(incoming):
        return incoming
    return _ids.new()


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
        self._lines: dict[str, bytes] = {}  # signed identity -> its header line
        self._spans = ServerSpans()

    # --- the plane's entry points -----------------------------------------------------------

    def begin(self, exchange: Exchange) -> None:
        """Start `exchange` from the read callback (the plane calls it for each request)."""
        flight = self._flight(exchange)
        request = exchange.request
        local = self.local.get(request.path) if flight.label is not PROXY_ROUTE else None
        if local is not None:
            exchange.conn.spawn(exchange, lambda: self._local(flight, local))
        elif request.body_exists or request.upgrade:
            exchange.conn.spawn(exchange, lambda: self._run(flight, WAF))
        else:
            self._fast(flight)

    async def __call__(self, exchange: Exchange) -> None:
        """The same pipeline with every stage awaited (for a plane without `begin`)."""
        flight = self._flight(exchange)
        local = self.local.get(exchange.request.path) if flight.label is not PROXY_ROUTE else None
        if local is not None:
            await self._local(flight, local)
        else:
            await self._run(flight, WAF)

    def _flight(self, exchange: Exchange) -> Flight:
        request = exchange.request
        request.request_id = request_id(request)
        method = request.method
        path = request.path
        label = path if method in _LOCAL_METHODS and path in self.local else PROXY_ROUTE
        span = self._spans.start(request, f"{method} {label}")
        if not isinstance(span, Dropped) and span.is_recording():
            span.set_attributes(
                {"http.request.method": method, "http.route": label, "server.address": request.host}
            )
        return Flight(self, exchange, label, span)

    def close(self, flight: Flight) -> None:
        """The request is answered: end its span, count it, log it (once; a WebSocket's at
        its 101, not when the tunnel closes)."""
        if flight.closed:
            return
        flight.closed = True
        exchange = flight.exchange
        status = exchange.status or 500
        span = flight.span
        if not isinstance(span, Dropped):
            if span.is_recording():
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(_ERROR)
            span.end()
        request = flight.request
        elapsed = time.perf_counter() - flight.started
        self.metrics.observe(flight.label, request.method, status, elapsed)
        if access_log.isEnabledFor(logging.INFO):
            _log_access(request, flight.label, status, elapsed)

    # --- the synchronous path -----------------------------------------------------------------

    def _fast(self, flight: Flight) -> None:
        parts = self.parts
        request = flight.request
        try:
            table = parts.routing.table
            route = table.match(request.path, request.method) or table.match_path(request.path)
            flight.route = route
            waf = parts.waf
            if waf.needs_body(request, route):
                return self._go(flight, WAF)
            waf.check(request, route)
            route = self._routed(flight)
            if route is None:
                return self._done(flight)
            identity = parts.auth.authenticate_now(request, route)
            if identity is None:
                return self._go(flight, AUTH)
            flight.identity = identity
            if route.protected_zone is not None:
                return self._go(flight, ZONES)
            admission = parts.limiter.admit_now(
                request, route, identity, global_limit=table.global_rate_limit
            )
            if admission is None:
                return self._go(flight, LIMITS)
            flight.admission = admission
            upstream = parts.routing.upstreams[route.upstream]
            pool = self._pool(upstream)
            flight.head = self._upstream_head(flight, route, upstream)
            if not flight.send(upstream, pool):
                return self._go(flight, PROXY)
        except web.HTTPException as exc:
            self._refused(flight, exc)
            self._done(flight)
        except Exception:
            error_log.exception("unhandled error in the data plane")
            flight.exchange.fail()
            self._done(flight)
        return None

    def _go(self, flight: Flight, stage: int) -> None:
        """Go on from `stage` in a task."""
        exchange = flight.exchange
        exchange.conn.spawn(exchange, lambda: self._run(flight, stage))

    def retry(self, flight: Flight, first: Problem | None) -> None:
        """The synchronous attempt failed: `forward` goes on from its outcome in a task."""
        exchange = flight.exchange
        exchange.conn.spawn(exchange, lambda: self._run(flight, RETRY, first))

    def _done(self, flight: Flight) -> None:
        self.close(flight)
        flight.exchange.conn.finished(flight.exchange)

    # --- the asynchronous path ----------------------------------------------------------------

    async def _local(self, flight: Flight, handler: LocalHandler) -> None:
        try:
            await handler(flight.exchange)
        finally:
            self.close(flight)

    async def _run(self, flight: Flight, stage: int, first: Problem | None = None) -> None:
        try:
            await self._stages(flight, stage, first)
        finally:
            self.close(flight)

    async def _stages(self, flight: Flight, stage: int, first: Problem | None) -> None:
        parts = self.parts
        request = flight.request
        table = parts.routing.table
        try:
            if stage == WAF:
                path = request.path
                route = table.match(path, request.method) or table.match_path(path)
                flight.route = route
                flight.inspected = await parts.waf.inspect(request, route)
                if self._routed(flight) is None:
                    return
            route = flight.route
            assert route is not None
            if stage <= AUTH:
                flight.identity = await parts.auth.authenticate(request, route)
            identity = flight.identity
            assert identity is not None
            if stage <= ZONES and route.protected_zone is not None:
                await parts.zones.guard(request, route, identity)  # waiting room (auth/zones.py)
            if stage <= LIMITS:
                flight.admission = await parts.limiter.admit(
                    request, route, identity, global_limit=table.global_rate_limit
                )
            status = await self._proxy(flight, route, stage, first)
        except web.HTTPException as exc:
            self._refused(flight, exc)
            return
        parts.metering.record(identity, route, status, throttled=False)

    async def _proxy(self, flight: Flight, route: Route, stage: int, first: Problem | None) -> int:
        request = flight.request
        exchange = flight.exchange
        upstream = self.parts.routing.upstreams[route.upstream]
        pool = self._pool(upstream)
        if stage == RETRY:
            # the attempt's upstream and pool, whatever a reload did meanwhile
            assert flight.upstream is not None
            assert flight.pool is not None
            upstream, pool = flight.upstream, flight.pool
            return await forward(
                exchange,
                route,
                upstream,
                pool,
                flight.head,
                None,
                flight.decorate,
                flight.context(),
                first=first,
                deposited=True,
            )
        websocket = route.websocket and is_websocket_upgrade(request)
        if websocket:
            head = self._upstream_head(flight, route, upstream, upgrade=True)
            context = flight.context()
            return await tunnel(
                exchange,
                route,
                upstream,
                pool,
                head,
                flight.decorate,
                context,
                lambda: self.close(flight),
            )
        if request.upgrade:  # an upgrade we do not tunnel: answer, then close
            exchange.close_after = True
        head = flight.head or self._upstream_head(flight, route, upstream)
        flight.head = head
        body = _body(self.parts, request, route, flight.inspected)
        return await forward(
            exchange, route, upstream, pool, head, body, flight.decorate, flight.context()
        )

    # --- shared steps ---------------------------------------------------------------------------

    def _routed(self, flight: Flight) -> Route | None:
        """After the WAF: 404 without a route; a CORS preflight answered here (None then)."""
        route = flight.route
        request = flight.request
        if route is None:
            raise Problem(404, f"no route matches {request.path[:200]!r}")
        preflight = cors.preflight(request, route, self.security)
        if preflight is None:
            return route
        self._stamp(request, preflight.headers)
        flight.exchange.respond(preflight.status, preflight.headers.lines, preflight.body)
        return None

    def _refused(self, flight: Flight, exc: web.HTTPException) -> None:
        """Answer a stage's problem, and meter it as the stage left it."""
        route, identity, admission = flight.route, flight.identity, flight.admission
        status = exc.status
        if identity is not None and route is not None:
            if status == 429 and admission is None:
                self.parts.metering.record(identity, route, status, throttled=True)
            elif admission is not None:
                self.parts.metering.record(identity, route, status, throttled=False)
        exchange = flight.exchange
        if exchange.head_sent:  # the answer had begun: cut it rather than append an error
            exchange.fail()
            return
        request = exchange.request
        headers = ResponseHeaders.of(exc.headers.items())
        if admission is not None:
            for name, value in admission.lines():
                headers.set_line(name, value)
        cors.decorate(request, headers, route, security=self.security)
        self._stamp(request, headers)
        body = exc.body if isinstance(exc.body, bytes) else (exc.text or "").encode()
        if exc.status >= 400 and exc.status != 429:
            error_log.debug("answered %d to %s %s", exc.status, request.method, request.path)
        exchange.respond(exc.status, headers.lines, body)

    def _upstream_head(
        self, flight: Flight, route: Route, upstream: UpstreamState, *, upgrade: bool = False
    ) -> bytes:
        request = flight.request
        assert flight.identity is not None
        return upstream_head(
            request,
            _upstream_path(route, request),
            upstream.host_header,
            request.client,
            self._assertion(flight, upstream.audience),
            upgrade=upgrade,
        )

    def _assertion(self, flight: Flight, audience: str) -> list[tuple[bytes, bytes]]:
        """The signed `X-Surge-Identity` for this upstream: re-signed once per half life per
        caller and audience (the signer's cache), so most requests only look it up."""
        assert flight.identity is not None
        signed = self.parts.identities.assertion(flight.identity, audience)[IDENTITY_HEADER]
        line = self._lines.get(signed)
        if line is None:
            if len(self._lines) >= _MAX_LINES:
                self._lines.clear()
            line = self._lines[signed] = signed.encode()
        return [(_IDENTITY_NAME, line)]

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

    def close_pools(self) -> None:
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
