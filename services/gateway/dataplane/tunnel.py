"""WebSocket upgrades: the handshake is proxied as HTTP, then both connections become one byte
tunnel, so frames, pings and close codes pass through untouched.

The upstream answers the handshake first, so the client gets the subprotocol the upstream chose
and an upstream refusal (401/403/...) is answered as a problem instead of an open-then-closed
socket. After the 101 the bytes flow both ways with flow control (a side is not read while the
other side's buffer is full); when either side closes, the other is closed once its pending
bytes are written.
"""

from __future__ import annotations

import asyncio

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind

from services.gateway.dataplane.headers import ResponseHeaders
from services.gateway.dataplane.proxy import Decorate, _trace_lines
from services.gateway.dataplane.response import Exchange, status_line
from services.gateway.dataplane.upstream import Pool, RawHeaders, UpstreamConnection
from services.gateway.request import Request
from services.gateway.routing.live import UpstreamState
from services.gateway.routing.table import Route
from shared.http.problems import Problem

_tracer = trace.get_tracer("services.gateway.tunnel")


def is_websocket_upgrade(request: Request) -> bool:
    return request.upgrade and request.headers.get("Upgrade", "").lower() == "websocket"


class _Handshake:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.head: asyncio.Future[None] = loop.create_future()
        self.status = 0
        self.headers: RawHeaders = []
        self.error: BaseException | None = None

    def on_head(self, status: int, headers: RawHeaders, keep_alive: bool) -> None:
        self.status, self.headers = status, headers
        if not self.head.done():
            self.head.set_result(None)

    def on_body(self, chunk: bytes) -> None:
        pass

    def on_end(self) -> None:
        pass

    def on_error(self, exc: BaseException) -> None:
        self.error = exc
        if not self.head.done():
            self.head.set_result(None)


async def tunnel(
    exchange: Exchange,
    route: Route,
    upstream: UpstreamState,
    pool: Pool,
    head: bytes,
    decorate: Decorate,
    parent: Context,
) -> int:
    """Proxy the handshake and, after a 101, the connection; returns the handshake status."""
    span = _tracer.start_span(f"GET {upstream.name}", context=parent, kind=SpanKind.CLIENT)
    try:
        try:
            conn = await pool.connect(route.timeouts.connect_seconds)
        except (OSError, TimeoutError):
            upstream.breaker.record(False)
            raise Problem(502, f"upstream {upstream.name!r} is unreachable") from None
        loop = asyncio.get_running_loop()
        handshake = _Handshake(loop)
        conn.begin(handshake, head_only=False)
        conn.transport.write(head + _trace_lines(span) + b"\r\n")
        try:
            async with asyncio.timeout(route.timeouts.total_seconds):
                await handshake.head
        except TimeoutError:
            conn.abort()
            upstream.breaker.record(False)
            raise Problem(504, f"upstream {upstream.name!r} did not answer in time") from None
        if handshake.error is not None or handshake.status != 101:
            conn.abort()
            status = handshake.status
            upstream.breaker.record(handshake.error is None and status < 500)
            if 400 <= status < 500:
                raise Problem(
                    status, f"upstream {upstream.name!r} refused the WebSocket ({status})"
                )
            raise Problem(502, f"upstream {upstream.name!r} did not accept the WebSocket")
        upstream.breaker.record(True)
        headers = ResponseHeaders(list(handshake.headers))
        decorate(101, headers)
        exchange.status = 101
        exchange.head_sent = exchange.ended = True
        exchange.close_after = True
        client = exchange.conn
        client.write(
            status_line(101) + b"".join(b"%s: %s\r\n" % pair for pair in headers.lines) + b"\r\n"
        )
        await _splice(client, conn)
        return 101
    finally:
        span.end()


async def _splice(client: object, upstream: UpstreamConnection) -> None:
    from services.gateway.dataplane.server import Connection

    assert isinstance(client, Connection)
    done = asyncio.get_running_loop().create_future()

    def finish() -> None:
        if not done.done():
            done.set_result(None)

    def to_upstream(data: bytes) -> None:
        upstream.transport.write(data)
        if upstream.write_paused:
            client.pause("tunnel")
            waiter = asyncio.get_running_loop().create_future()
            waiter.add_done_callback(lambda _: client.resume("tunnel"))
            upstream.on_writable.append(waiter)

    def to_client(data: bytes) -> None:
        client.transport.write(data)
        if client.write_paused and not upstream.closed:
            upstream.transport.pause_reading()
            client.on_writable.append(
                lambda: None if upstream.closed else upstream.transport.resume_reading()
            )

    def client_lost(exc: BaseException | None) -> None:
        if not upstream.closed:
            upstream.closed = True
            upstream.transport.close()  # after writing what the client sent last
        finish()

    def upstream_lost() -> None:
        if not client.transport.is_closing():
            client.transport.close()
        finish()

    client.tunnel = to_upstream
    client.on_tunnel_lost = client_lost
    upstream.tunnel = to_client
    upstream.on_tunnel_lost = upstream_lost
    if upstream.early:
        to_client(upstream.early)
    if client.upgrade_bytes:
        to_upstream(client.upgrade_bytes)
    client.upgrading = False
    client.upgrade_bytes = b""
    client.resume("upgrade")
    if upstream.closed:
        upstream_lost()
    try:
        await done
    except asyncio.CancelledError:
        upstream.abort()
        raise
