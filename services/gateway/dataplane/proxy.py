"""Forward one request to its upstream over the pool and relay the answer.

Bodies stream both ways with flow control: the request body is written as the client sends it
(bounded by the WAF), waiting whenever the upstream connection's buffer is full; the response
is written to the client as it arrives, and the upstream is not read while the client's buffer
is full. A response that arrived whole is answered in one write. Idempotent requests with a
replayable body are retried on connection errors, timeouts and 502/503/504, with backoff, full
jitter and the upstream's retry budget; each attempt asks the upstream's circuit breaker first.
A reused keep-alive connection that the upstream closed before answering is replaced at once
for an idempotent request (the request never reached the upstream's handler).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode

from services.gateway.dataplane.headers import (
    RawHeaders,
    ResponseHeaders,
    content_length,
    response_headers,
)
from services.gateway.dataplane.response import Exchange
from services.gateway.dataplane.upstream import Pool, UpstreamConnection
from services.gateway.routing.live import UpstreamState
from services.gateway.routing.retries import IDEMPOTENT, backoff_seconds
from services.gateway.routing.table import Route
from shared.http.problems import Problem
from shared.telemetry import w3c

log = logging.getLogger("gateway.proxy")
_tracer = trace.get_tracer("services.gateway.proxy")
RETRY_STATUSES = frozenset({502, 503, 504})
Body = bytes | Callable[[], AsyncIterator[bytes]] | None
Decorate = Callable[[int, ResponseHeaders], None]
_ERROR = Status(StatusCode.ERROR)
_END_OF_HEAD = b"\r\n"


class _StaleConnectionError(Exception):
    """A reused connection closed before any answer: try a fresh one."""


class Attempt:
    """Receives one upstream response (the connection's `Receiver`)."""

    __slots__ = (
        "chunks",
        "complete",
        "conn",
        "done",
        "error",
        "head",
        "headers",
        "keep_alive",
        "progress",
        "seconds",
        "sink",
        "status",
        "timer",
    )

    def __init__(self, conn: UpstreamConnection, loop: asyncio.AbstractEventLoop) -> None:
        self.conn = conn
        self.head: asyncio.Future[None] = loop.create_future()
        self.done: asyncio.Future[None] | None = None
        self.chunks: list[bytes] = []
        self.complete = False
        self.error: BaseException | None = None
        self.sink: Exchange | None = None
        self.status = 0
        self.headers: RawHeaders = []
        self.keep_alive = False
        self.progress = 0  # body reads since the timer last fired
        self.seconds = 0.0
        self.timer: asyncio.TimerHandle | None = None

    def arm(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        """`seconds` for the response head, then as long between two reads of the body."""
        self.seconds = seconds
        self.timer = loop.call_later(seconds, self.timed_out)

    def disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def on_head(self, status: int, headers: RawHeaders, keep_alive: bool) -> None:
        self.status, self.headers, self.keep_alive = status, headers, keep_alive
        if not self.head.done():
            self.head.set_result(None)

    def on_body(self, chunk: bytes) -> None:
        self.progress += 1
        sink = self.sink
        if sink is None:
            self.chunks.append(chunk)
            return
        sink.write(chunk)
        client = sink.conn
        if client.write_paused and not self.conn.closed:
            self.conn.transport.pause_reading()  # the client reads slower than the upstream sends
            client.on_writable.append(self._resume)

    def _resume(self) -> None:
        if not self.conn.closed:
            self.conn.transport.resume_reading()

    def on_end(self) -> None:
        self.complete = True
        if self.done is not None and not self.done.done():
            self.done.set_result(None)

    def on_error(self, exc: BaseException) -> None:
        if self.complete:
            return
        self.error = exc
        if not self.head.done():
            self.head.set_result(None)
        if self.done is not None and not self.done.done():
            self.done.set_result(None)

    def timed_out(self) -> None:
        waiting_on_client = self.sink is not None and self.sink.conn.write_paused
        if self.head.done() and (self.progress or waiting_on_client) and self.error is None:
            self.progress = 0  # the body is still coming: wait for the next stretch
            self.timer = asyncio.get_running_loop().call_later(self.seconds, self.timed_out)
            return
        self.on_error(TimeoutError())
        self.conn.abort()


async def forward(
    exchange: Exchange,
    route: Route,
    upstream: UpstreamState,
    pool: Pool,
    head: bytes,
    body: Body,
    decorate: Decorate,
    parent: Context,
) -> int:
    """Relay the upstream's answer to `exchange` (returns its status) or raise the Problem to
    answer instead."""
    method = exchange.request.method
    replayable = not callable(body)
    idempotent = method in IDEMPOTENT and replayable
    retries = route.retries.attempts if idempotent else 0
    upstream.budget.deposit(route.retries.budget_ratio)
    attempt = 0
    while True:
        if not upstream.breaker.allow():
            wait = max(1, round(upstream.breaker.retry_after()))
            raise Problem(
                503,
                f"upstream {upstream.name!r} is failing; its circuit breaker is open",
                headers={"Retry-After": str(wait)},
            )
        may_retry = attempt < retries and upstream.budget.available()
        try:
            outcome = await _attempt(
                exchange, route, upstream, pool, head, body, decorate, parent, may_retry
            )
        except _StaleConnectionError:
            if idempotent:
                continue  # not counted: the request never reached the upstream's handler
            upstream.breaker.record(False)
            outcome = Problem(502, f"upstream {upstream.name!r} closed the connection")
        if isinstance(outcome, int):
            return outcome
        if attempt >= retries or not upstream.budget.withdraw():
            raise outcome
        await asyncio.sleep(backoff_seconds(route.retries, attempt))
        attempt += 1


async def _attempt(
    exchange: Exchange,
    route: Route,
    upstream: UpstreamState,
    pool: Pool,
    head: bytes,
    body: Body,
    decorate: Decorate,
    parent: Context,
    may_retry: bool,
) -> int | Problem:
    """One try: the relayed status, or the problem to answer if no retry follows."""
    method = exchange.request.method
    # A request whose trace is sampled out gets no CLIENT span of its own (it would be dropped
    # anyway): the upstream is told the server span's context, so the trace stays whole.
    server_span = trace.get_current_span(parent)
    span = (
        _tracer.start_span(f"{method} {upstream.name}", context=parent, kind=SpanKind.CLIENT)
        if server_span.is_recording()
        else server_span
    )
    recording = span.is_recording()
    if recording:
        span.set_attributes(
            {
                "http.request.method": method,
                "url.full": upstream.base_url + exchange.request.target,
                "server.address": upstream.host,
                "peer.service": upstream.name,
            }
        )
    slots = upstream.slots
    await slots.acquire()  # no suspension while a slot is free
    conn: UpstreamConnection | None = None
    receiver: Attempt | None = None
    timeouts = route.timeouts
    try:
        conn = pool.take()
        reused = conn is not None
        if conn is None:
            try:
                conn = await pool.connect(timeouts.connect_seconds)
            except TimeoutError:
                return _failed(span, upstream, 504, "did not accept a connection in time")
            except OSError as exc:
                log.warning("upstream %s unreachable: %s", upstream.name, exc)
                return _failed(span, upstream, 502, "is unreachable")
        loop = asyncio.get_running_loop()
        receiver = Attempt(conn, loop)
        conn.begin(receiver, head_only=method == "HEAD")
        receiver.arm(loop, timeouts.total_seconds)
        trace_lines = _trace_lines(span)
        request = exchange.request
        if body is None:
            conn.transport.write(head + trace_lines + _END_OF_HEAD)
        elif not callable(body):
            framing = b"Content-Length: %d\r\n\r\n" % len(body)
            conn.transport.write(b"".join((head, trace_lines, framing, body)))
        else:
            framing = (
                b"Transfer-Encoding: chunked\r\n\r\n"
                if request.chunked
                else b"Content-Length: %d\r\n\r\n" % (request.content_length or 0)
            )
            conn.transport.write(head + trace_lines + framing)
            await _send_body(conn, body(), request.chunked)
        await receiver.head
        if receiver.error is not None:
            error = receiver.error
            if isinstance(error, TimeoutError):
                span.set_status(Status(StatusCode.ERROR, "timeout"))
                upstream.breaker.record(False)
                return Problem(504, f"upstream {upstream.name!r} did not answer in time")
            if reused and receiver.status == 0 and not callable(body):
                raise _StaleConnectionError()
            log.warning("upstream %s failed: %s", upstream.name, error)
            return _failed(span, upstream, 502, "is unreachable")
        status = receiver.status
        if recording:
            span.set_attribute("http.response.status_code", status)
        failed = status in RETRY_STATUSES
        upstream.breaker.record(not failed)
        if failed and may_retry:
            span.set_status(_ERROR)
            return Problem(status, f"upstream {upstream.name!r} answered {status}")
        await _relay(exchange, receiver, decorate, loop)
        return status
    except BaseException as exc:
        if conn is not None:
            conn.abort()
            conn = None
        if not isinstance(exc, _StaleConnectionError | asyncio.CancelledError):
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        slots.release()
        if receiver is not None:
            receiver.disarm()
        if conn is not None and receiver is not None:
            if receiver.complete and receiver.keep_alive and receiver.error is None:
                pool.release(conn)
            else:
                conn.abort()
        span.end()


def _failed(span: trace.Span, upstream: UpstreamState, status: int, what: str) -> Problem:
    upstream.breaker.record(False)
    span.set_status(_ERROR)
    return Problem(status, f"upstream {upstream.name!r} {what}")


def _trace_lines(span: trace.Span) -> bytes:
    carrier: dict[str, str] = {}
    w3c.inject(carrier, span)
    return b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in carrier.items())


async def _send_body(conn: UpstreamConnection, chunks: AsyncIterator[bytes], chunked: bool) -> None:
    write = conn.transport.write
    async for chunk in chunks:
        if conn.closed:
            raise ConnectionResetError("the upstream closed the connection")
        if chunked:
            conn.transport.writelines((b"%x\r\n" % len(chunk), chunk, b"\r\n"))
        else:
            write(chunk)
        await conn.drain()
    if chunked:
        write(b"0\r\n\r\n")


async def _relay(
    exchange: Exchange, receiver: Attempt, decorate: Decorate, loop: asyncio.AbstractEventLoop
) -> None:
    status = receiver.status
    headers = ResponseHeaders(response_headers(receiver.headers))
    decorate(status, headers)
    length = content_length(receiver.headers)
    if receiver.complete:
        if exchange.request.method == "HEAD":
            exchange.start(status, headers.lines, length)
            exchange.end()
        else:
            chunks = receiver.chunks
            exchange.respond(
                status, headers.lines, chunks[0] if len(chunks) == 1 else b"".join(chunks)
            )
        return
    exchange.start(status, headers.lines, length)
    for chunk in receiver.chunks:
        exchange.write(chunk)
    receiver.chunks = []
    done = receiver.done = loop.create_future()
    receiver.sink = exchange
    if exchange.conn.write_paused:
        receiver.conn.transport.pause_reading()
        exchange.conn.on_writable.append(receiver._resume)
    await done
    if receiver.error is not None:
        exchange.fail()  # cut short: the client must not take it for the whole body
        return
    exchange.end()


def pool_key(upstream: UpstreamState) -> tuple[str, int]:
    url: Any = upstream.config.url
    port = url.port or (443 if url.scheme == "https" else 80)
    return url.host or "127.0.0.1", int(port)
