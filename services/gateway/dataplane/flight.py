"""One request's way through the gateway, and its synchronous first attempt upstream.

A `Flight` carries what the stages found (route, identity, admission, the upstream request
head) and the server span. On the synchronous path (pipeline.py) it is also the upstream
connection's receiver: `send` writes the request on a pooled keep-alive connection from the
client's read callback, and the answer is relayed from the upstream's callbacks, in one write
when it arrived whole, else streamed with flow control (the upstream is not read while the
client's buffer is full). No task, future or coroutine is made for such a request.

Whatever is not the plain case is handed to the asynchronous code (proxy.py) at the point it
arises, with the same outcome as if that code had made the attempt: an error or a timeout
before anything was answered, and a 502/503/504 that may be retried, continue in `forward`'s
retry loop (`Pipeline.retry`); a reused connection that turns out closed is replaced at once
for an idempotent request. A response already being relayed that breaks is cut short.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode

from services.gateway.auth.identity import Identity
from services.gateway.dataplane import cors
from services.gateway.dataplane.headers import (
    RawHeaders,
    ResponseHeaders,
    content_length,
    response_headers,
)
from services.gateway.dataplane.proxy import (
    RETRY_STATUSES,
    breaker_open,
    retries_for,
    stale_outcome,
    trace_lines,
)
from services.gateway.dataplane.response import Exchange
from services.gateway.dataplane.tracing import Dropped
from services.gateway.dataplane.upstream import Pool, UpstreamConnection
from services.gateway.limits.headers import Admission
from services.gateway.routing.live import UpstreamState
from services.gateway.routing.retries import IDEMPOTENT
from services.gateway.routing.table import Route
from shared.http.problems import Problem

if TYPE_CHECKING:
    from services.gateway.dataplane.pipeline import Pipeline

log = logging.getLogger("gateway.proxy")
_tracer = trace.get_tracer("services.gateway.proxy")
_ERROR = Status(StatusCode.ERROR)
_END_OF_HEAD = b"\r\n"
_REQUEST_ID = b"X-Request-ID"


class Flight:
    __slots__ = (
        "admission",
        "chunks",
        "client_span",
        "closed",
        "complete",
        "conn",
        "error",
        "exchange",
        "has_head",
        "head",
        "headers",
        "identity",
        "inspected",
        "keep_alive",
        "label",
        "may_retry",
        "pipeline",
        "pool",
        "progress",
        "request",
        "route",
        "seconds",
        "span",
        "started",
        "status",
        "streaming",
        "timer",
        "upstream",
    )

    def __init__(
        self, pipeline: Pipeline, exchange: Exchange, label: str, span: trace.Span | Dropped
    ) -> None:
        self.pipeline = pipeline
        self.exchange = exchange
        self.request = exchange.request
        self.label = label  # the metrics/span route label
        self.span = span
        self.started = time.perf_counter()
        self.closed = False  # counted and its span ended (Pipeline.close)
        self.route: Route | None = None
        self.identity: Identity | None = None
        self.admission: Admission | None = None
        self.inspected: bytes | None = None  # a body the WAF read whole
        self.upstream: UpstreamState | None = None
        self.pool: Pool | None = None
        self.head = b""  # the upstream request line and headers (no framing, no trace fields)
        # --- the synchronous attempt ----------------------------------------------------------
        self.conn: UpstreamConnection | None = None
        self.client_span: trace.Span | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.seconds = 0.0
        self.may_retry = False
        self.has_head = False
        self.status = 0
        self.headers: RawHeaders = []
        self.keep_alive = False
        self.chunks: list[bytes] = []
        self.complete = False
        self.streaming = False
        self.progress = 0  # body reads since the timer last fired
        self.error: BaseException | None = None

    # --- tracing ----------------------------------------------------------------------------

    def recording(self) -> bool:
        span = self.span
        return not isinstance(span, Dropped) and span.is_recording()

    def context(self) -> Context:
        """A context holding the server span, for the spans of the asynchronous code."""
        span = self.span
        return trace.set_span_in_context(span.span() if isinstance(span, Dropped) else span)

    # --- the answer's headers ---------------------------------------------------------------

    def decorate(self, status: int, headers: ResponseHeaders) -> None:
        """The gateway's headers on an upstream's answer: RateLimit, CORS, security, id."""
        if self.admission is not None:
            for name, value in self.admission.lines():
                headers.set_line(name, value)
        cors.decorate(
            self.request, headers, self.route, upstream=True, security=self.pipeline.security
        )
        headers.add("X-Request-ID", self.request.request_id)

    def relayed(self, raw: RawHeaders) -> RawHeaders | bytes:
        """`decorate` applied to the upstream's lines (in one pass to the bytes of the block
        for a route without CORS)."""
        route = self.route
        if route is not None and route.cors is None:
            request = self.request
            block = cors.proxied_block(
                raw,
                self.admission.block() if self.admission is not None else b"",
                b"X-Request-ID: %s\r\n" % request.request_id.encode(),
                https=request.client.proto == "https",
                security=self.pipeline.security,
            )
            if block is not None:
                return block
        headers = ResponseHeaders(response_headers(raw))
        self.decorate(self.status, headers)
        return headers.lines

    # --- the synchronous attempt ------------------------------------------------------------

    def send(self, upstream: UpstreamState, pool: Pool) -> bool:
        """Write the request upstream on a pooled connection now; False when no slot or idle
        connection is free (nothing was done: the asynchronous code waits for one). Raises
        the 503 when the upstream's circuit breaker is open."""
        slots = upstream.slots
        if not slots.try_acquire():
            return False
        conn = pool.take()
        if conn is None:
            slots.release()
            return False
        route = self.route
        assert route is not None
        upstream.budget.deposit(route.retries.budget_ratio)
        if not upstream.breaker.allow():
            slots.release()
            pool.release(conn)
            raise breaker_open(upstream)
        self.upstream, self.pool, self.conn = upstream, pool, conn
        request = self.request
        method = request.method
        self.may_retry = retries_for(route, method, None) > 0 and upstream.budget.available()
        if self.recording():
            span = self.client_span = _tracer.start_span(
                f"{method} {upstream.name}", context=self.context(), kind=SpanKind.CLIENT
            )
            span.set_attributes(
                {
                    "http.request.method": method,
                    "url.full": upstream.base_url + request.target,
                    "server.address": upstream.host,
                    "peer.service": upstream.name,
                }
            )
            tracing = trace_lines(span)
        elif isinstance(self.span, Dropped):
            tracing = self.span.trace_lines()
        else:
            tracing = trace_lines(self.span)
        conn.begin(self, head_only=method == "HEAD")
        self.seconds = seconds = route.timeouts.total_seconds
        self.timer = self.exchange.conn.plane.loop.call_later(seconds, self.timed_out)
        self.exchange.on_lost = self.client_lost
        conn.transport.write(self.head + tracing + _END_OF_HEAD)
        return True

    # --- the upstream connection's receiver -------------------------------------------------

    def on_head(self, status: int, headers: RawHeaders, keep_alive: bool) -> None:
        self.status, self.headers, self.keep_alive = status, headers, keep_alive
        self.has_head = True
        if self.client_span is not None:
            self.client_span.set_attribute("http.response.status_code", status)

    def on_body(self, chunk: bytes) -> None:
        self.progress += 1
        if not self.streaming:
            self.chunks.append(chunk)
            return
        exchange = self.exchange
        exchange.write(chunk)
        client = exchange.conn
        conn = self.conn
        if client.write_paused and conn is not None and not conn.closed:
            conn.transport.pause_reading()  # the client reads slower than the upstream sends
            client.on_writable.append(self._resume_upstream)

    def _resume_upstream(self) -> None:
        conn = self.conn
        if conn is not None and not conn.closed:
            conn.transport.resume_reading()

    def on_end(self) -> None:
        self.complete = True
        try:
            if self.streaming:
                self.exchange.end()
                self._done(keep=True)
            else:
                self._settle()
        except Exception:
            self._crash()

    def on_read_end(self) -> None:
        """A read ended with the answer incomplete: once its head is here, start relaying."""
        if self.has_head and not self.streaming and self.error is None:
            try:
                self._settle()
            except Exception:
                self._crash()

    def on_error(self, exc: BaseException) -> None:
        if self.complete or self.error is not None:
            return
        self.error = exc
        try:
            if self.streaming:
                self.exchange.fail()  # cut short: the client must not take it for the whole body
                self._done(keep=False)
            else:
                self._failed()
        except Exception:
            self._crash()

    def timed_out(self) -> None:
        """`seconds` for the response head, then as long between two reads of the body."""
        self.timer = None
        waiting_on_client = self.streaming and self.exchange.conn.write_paused
        if self.has_head and (self.progress or waiting_on_client) and self.error is None:
            self.progress = 0  # the body is still coming: wait for the next stretch
            self.timer = self.exchange.conn.plane.loop.call_later(self.seconds, self.timed_out)
            return
        conn = self.conn
        self.on_error(TimeoutError())
        if conn is not None:
            conn.abort()

    def client_lost(self) -> None:
        """The client went away: drop the upstream exchange (as a cancelled task would)."""
        if self.error is None:
            self.error = ConnectionResetError("the client closed the connection")
        self._end_attempt(keep=False)
        self.pipeline.close(self)
        self.exchange.conn.finished(self.exchange)

    # --- outcomes -------------------------------------------------------------------------

    def _settle(self) -> None:
        """The head is here (and maybe the whole answer): retry, relay whole, or stream."""
        upstream = self.upstream
        assert upstream is not None
        status = self.status
        failed = status in RETRY_STATUSES
        upstream.breaker.record(not failed)
        if failed and self.may_retry:
            if self.client_span is not None:
                self.client_span.set_status(_ERROR)
            self._end_attempt(keep=True)
            self._hand_over(Problem(status, f"upstream {upstream.name!r} answered {status}"))
            return
        exchange = self.exchange
        lines = self.relayed(self.headers)
        if self.complete:
            if self.request.method == "HEAD":
                exchange.start(status, lines, content_length(self.headers))
                exchange.end()
            else:
                chunks = self.chunks
                exchange.respond(status, lines, chunks[0] if len(chunks) == 1 else b"".join(chunks))
            self._done(keep=True)
            return
        exchange.start(status, lines, content_length(self.headers))
        for chunk in self.chunks:
            exchange.write(chunk)
        self.chunks = []
        self.streaming = True
        conn = self.conn
        if exchange.conn.write_paused and conn is not None and not conn.closed:
            conn.transport.pause_reading()
            exchange.conn.on_writable.append(self._resume_upstream)

    def _failed(self) -> None:
        """The attempt failed before anything was answered: the outcome `_attempt` gives."""
        upstream = self.upstream
        assert upstream is not None
        error = self.error
        span = self.client_span
        self._end_attempt(keep=False)
        first: Problem | None
        if isinstance(error, TimeoutError):
            if span is not None:
                span.set_status(Status(StatusCode.ERROR, "timeout"))
            upstream.breaker.record(False)
            first = Problem(504, f"upstream {upstream.name!r} did not answer in time")
        elif self.status == 0:  # a pooled connection the upstream had closed: stale
            first = stale_outcome(upstream, self.request.method in IDEMPOTENT)
        else:
            log.warning("upstream %s failed: %s", upstream.name, error)
            upstream.breaker.record(False)
            if span is not None:
                span.set_status(_ERROR)
            first = Problem(502, f"upstream {upstream.name!r} is unreachable")
        self._hand_over(first)

    def _hand_over(self, first: Problem | None) -> None:
        """Continue in `forward`'s retry loop (None: a fresh attempt, not counted)."""
        self.exchange.on_lost = None
        self.pipeline.retry(self, first)

    def _end_attempt(self, *, keep: bool) -> None:
        """Release what the attempt holds; the connection goes back to its pool if the answer
        ended cleanly and both sides keep it alive."""
        conn, self.conn = self.conn, None
        if conn is None:
            return
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        upstream, pool = self.upstream, self.pool
        assert upstream is not None
        assert pool is not None
        upstream.slots.release()
        if keep and self.complete and self.keep_alive and self.error is None:
            pool.release(conn)
        else:
            conn.abort()
        span, self.client_span = self.client_span, None
        if span is not None:
            span.end()

    def _done(self, *, keep: bool) -> None:
        """The answer was relayed (or cut): count it and go on with the connection."""
        self._end_attempt(keep=keep)
        exchange = self.exchange
        exchange.on_lost = None
        route, identity = self.route, self.identity
        if route is not None and identity is not None:
            self.pipeline.parts.metering.record(identity, route, self.status, throttled=False)
        self.pipeline.close(self)
        exchange.conn.finished(exchange)

    def _crash(self) -> None:
        log.exception("unhandled error in the data plane")
        self._end_attempt(keep=False)
        exchange = self.exchange
        exchange.on_lost = None
        exchange.fail()
        self.pipeline.close(self)
        exchange.conn.finished(exchange)
