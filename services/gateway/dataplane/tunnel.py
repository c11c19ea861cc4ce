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
import os
from collections.abc import Callable

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind

from services.gateway.dataplane.headers import ResponseHeaders
from services.gateway.dataplane.proxy import Decorate, trace_lines
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

    def on_read_end(self) -> None:
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
    answered: Callable[[], None] | None = None,
) -> int:
    """Proxy the handshake and, after a 101, the connection; returns the handshake status.

    The handshake's CLIENT span, and the request's span (`answered`), end at the 101: a
    session lasts minutes and is no request latency. The tunnel then has a span of its own,
    `websocket.session` (bytes each way, who closed, the close code), under the request's."""
    span = _tracer.start_span(f"GET {upstream.name}", context=parent, kind=SpanKind.CLIENT)
    handshake_open = True
    try:
        try:
            conn = await pool.connect(route.timeouts.connect_seconds)
        except (OSError, TimeoutError):
            upstream.breaker.record(False)
            raise Problem(502, f"upstream {upstream.name!r} is unreachable") from None
        loop = asyncio.get_running_loop()
        handshake = _Handshake(loop)
        conn.begin(handshake, head_only=False)
        conn.transport.write(head + trace_lines(span) + b"\r\n")
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
        if span.is_recording():
            span.set_attribute("http.response.status_code", 101)
        span.end()
        handshake_open = False
        if answered is not None:
            answered()
        session = _tracer.start_span("websocket.session", context=parent, kind=SpanKind.INTERNAL)
        meter = SessionMeter() if session.is_recording() else None
        try:
            await _splice(client, conn, meter)
        finally:
            if meter is not None:
                session.set_attributes(meter.attributes())
            session.end()
        return 101
    finally:
        if handshake_open:
            span.end()


GOING_AWAY = 1001
_SHUTDOWN_REASON = b"gateway shutting down"


def close_frame(code: int, reason: bytes, *, masked: bool) -> bytes:
    """A WebSocket close frame (RFC 6455 5.5.1); client-to-server frames are masked."""
    payload = code.to_bytes(2, "big") + reason
    if not masked:
        return bytes((0x88, len(payload))) + payload
    key = os.urandom(4)
    body = bytes(byte ^ key[index % 4] for index, byte in enumerate(payload))
    return bytes((0x88, 0x80 | len(payload))) + key + body


class FrameBoundaries:
    """Where the frames of one direction of a tunnel end (RFC 6455 5.2), so that on shutdown
    the gateway can close the WebSocket with 1001 without cutting a frame in half."""

    __slots__ = ("_head", "_left", "close_code")

    def __init__(self) -> None:
        self._head = b""  # a frame header split across reads
        self._left = 0  # payload bytes of the current frame still to come
        self.close_code: int | None = None  # of the first close frame, when it came whole

    @property
    def at_boundary(self) -> bool:
        return not self._head and not self._left

    def feed(self, data: bytes) -> None:
        index, size = 0, len(data)
        while index < size:
            if self._left:
                step = min(self._left, size - index)
                self._left -= step
                index += step
                continue
            before = len(self._head)
            head = self._head + data[index : index + 14]
            if len(head) < 2:
                self._head = head
                return
            length = head[1] & 0x7F
            needed = 2 + (2 if length == 126 else 8 if length == 127 else 0)
            needed += 4 if head[1] & 0x80 else 0
            if len(head) < needed:
                self._head = head
                return
            if length == 126:
                length = int.from_bytes(head[2:4], "big")
            elif length == 127:
                length = int.from_bytes(head[2:10], "big")
            index += needed - before
            self._head = b""
            self._left = length
            if head[0] & 0x0F == 0x8 and self.close_code is None:
                self.close_code = _close_payload(head, needed, data[index : index + 2])


def _close_payload(head: bytes, needed: int, first: bytes) -> int | None:
    """The status code of a close frame from its first two payload bytes (unmasked)."""
    if len(first) < 2:
        return None
    if head[1] & 0x80:
        key = head[needed - 4 : needed]
        first = bytes((first[0] ^ key[0], first[1] ^ key[1]))
    return int.from_bytes(first, "big")


class SessionMeter:
    """What a sampled tunnel's `websocket.session` span reports: bytes each way, the first
    close frame's code and who sent it."""

    __slots__ = ("closed_by", "code", "to_client", "to_upstream")

    def __init__(self) -> None:
        self.to_client = self.to_upstream = 0
        self.code: int | None = None
        self.closed_by = ""

    def saw(self, towards: FrameBoundaries, sender: str) -> None:
        if self.code is None and towards.close_code is not None:
            self.code, self.closed_by = towards.close_code, sender

    def attributes(self) -> dict[str, int | str]:
        found: dict[str, int | str] = {
            "websocket.bytes.to_client": self.to_client,
            "websocket.bytes.to_upstream": self.to_upstream,
        }
        if self.code is not None:
            found["websocket.close.code"] = self.code
            found["websocket.close.by"] = self.closed_by
        return found


async def _splice(
    client: object, upstream: UpstreamConnection, meter: SessionMeter | None = None
) -> None:
    from services.gateway.dataplane.server import Connection

    assert isinstance(client, Connection)
    done = asyncio.get_running_loop().create_future()

    def finish() -> None:
        if not done.done():
            done.set_result(None)

    towards_client, towards_upstream = FrameBoundaries(), FrameBoundaries()
    draining = {"client": False, "upstream": False, "on": False}

    def go_away() -> None:
        """Shutdown: close both sides with 1001 at the next frame boundary of each."""
        draining["on"] = True
        if not draining["client"] and towards_client.at_boundary:
            draining["client"] = True
            client.transport.write(close_frame(GOING_AWAY, _SHUTDOWN_REASON, masked=False))
            client.transport.close()
        if not draining["upstream"] and towards_upstream.at_boundary and not upstream.closed:
            draining["upstream"] = True
            upstream.transport.write(close_frame(GOING_AWAY, _SHUTDOWN_REASON, masked=True))
            upstream.transport.close()

    def to_upstream(data: bytes) -> None:
        if draining["upstream"]:
            return
        towards_upstream.feed(data)
        if meter is not None:
            meter.to_upstream += len(data)
            meter.saw(towards_upstream, "client")
        upstream.transport.write(data)
        if draining["on"]:
            go_away()
        if upstream.write_paused:
            client.pause("tunnel")
            waiter = asyncio.get_running_loop().create_future()
            waiter.add_done_callback(lambda _: client.resume("tunnel"))
            upstream.on_writable.append(waiter)

    def to_client(data: bytes) -> None:
        if draining["client"]:
            return
        towards_client.feed(data)
        if meter is not None:
            meter.to_client += len(data)
            meter.saw(towards_client, "upstream")
        client.transport.write(data)
        if draining["on"]:
            go_away()
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
    client.go_away = go_away
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
