"""Our pooled HTTP/1.1 client to the upstreams: one `Pool` of keep-alive connections per
upstream, an asyncio `Protocol` per connection with llhttp parsing the responses.

A connection carries one exchange at a time (no pipelining to upstreams) and goes back to its
pool when the response ended cleanly and both sides keep the connection alive; idle ones are
closed after IDLE_SECONDS (below the usual upstream keep-alive, so the upstream rarely closes
one under us). Informational answers (1xx but 101) are skipped: the gateway answers the client's
`Expect: 100-continue` itself. Responses to HEAD carry no body, whatever their headers say.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol

import httptools

IDLE_SECONDS = 30.0
RawHeaders = list[tuple[bytes, bytes]]


class UpstreamProtocolError(ConnectionError):
    """The upstream's answer could not be parsed."""


class Receiver(Protocol):
    def on_head(self, status: int, headers: RawHeaders, keep_alive: bool) -> None: ...
    def on_body(self, chunk: bytes) -> None: ...
    def on_end(self) -> None: ...
    def on_error(self, exc: BaseException) -> None: ...


class UpstreamConnection(asyncio.Protocol):
    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.transport: Any = None
        self.parser = httptools.HttpResponseParser(self)
        self.receiver: Receiver | None = None
        self.headers: RawHeaders = []
        self.head_only = False  # the request was HEAD: the head is the whole response
        self.informational = False
        self.closed = False
        self.uses = 0
        self.idle_since = 0.0
        self.write_paused = False
        self.on_writable: list[asyncio.Future[None]] = []
        self.tunnel: Callable[[bytes], None] | None = None  # after a 101 (tunnel.py)
        self.on_tunnel_lost: Callable[[], None] | None = None
        self.early = b""  # bytes after a 101 that arrived with its head

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:
            self.tunnel(data)
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:  # after a 101: the tunnel's first bytes
            offset = int(upgrade.args[0]) if upgrade.args else len(data)
            self.early += data[offset:]
        except httptools.HttpParserError as exc:
            self._fail(UpstreamProtocolError(f"malformed answer from the upstream: {exc}"))

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed = True
        if self.on_tunnel_lost is not None:
            self.on_tunnel_lost()
        self.pool.discard(self)
        self._fail(exc or ConnectionResetError("the upstream closed the connection"))
        for waiter in self.on_writable:
            if not waiter.done():
                waiter.set_result(None)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        waiters, self.on_writable = self.on_writable, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def drain(self) -> None:
        if self.write_paused and not self.closed:
            waiter = asyncio.get_running_loop().create_future()
            self.on_writable.append(waiter)
            await waiter

    # --- llhttp callbacks ---------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        headers, self.headers = self.headers, []
        if 100 <= status < 200 and status != 101:
            self.informational = True
            return
        receiver = self.receiver
        if receiver is None:
            return
        receiver.on_head(status, headers, self.parser.should_keep_alive())
        if self.head_only or status == 101:
            # No body follows a HEAD answer; llhttp cannot know, so start it afresh for the
            # next exchange. (A 101 turns the connection into a tunnel: it is never reused.)
            self.parser = httptools.HttpResponseParser(self)
            self.receiver = None
            receiver.on_end()

    def on_body(self, body: bytes) -> None:
        if self.receiver is not None:
            self.receiver.on_body(body)

    def on_message_complete(self) -> None:
        if self.informational:
            self.informational = False
            return
        receiver, self.receiver = self.receiver, None
        if receiver is not None:
            receiver.on_end()

    # --- use ------------------------------------------------------------------------------------

    def begin(self, receiver: Receiver, head_only: bool) -> None:
        self.receiver = receiver
        self.head_only = head_only
        self.uses += 1

    def _fail(self, exc: BaseException) -> None:
        receiver, self.receiver = self.receiver, None
        if receiver is not None:
            receiver.on_error(exc)
        if not self.closed:
            self.closed = True
            self.transport.abort()

    def abort(self) -> None:
        self.receiver = None
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class Pool:
    """Keep-alive connections to one upstream address."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.idle: list[UpstreamConnection] = []

    def take(self) -> UpstreamConnection | None:
        idle = self.idle
        while idle:
            conn = idle.pop()
            if not conn.closed and not conn.transport.is_closing():
                return conn
        return None

    async def connect(self, seconds: float) -> UpstreamConnection:
        """A new connection; TimeoutError after `seconds`, OSError when refused."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(seconds):
            _, conn = await loop.create_connection(
                lambda: UpstreamConnection(self), self.host, self.port
            )
        return conn

    def release(self, conn: UpstreamConnection) -> None:
        if conn.closed or conn.receiver is not None:
            conn.abort()
            return
        conn.idle_since = time.monotonic()
        self.idle.append(conn)

    def discard(self, conn: UpstreamConnection) -> None:
        if conn in self.idle:
            self.idle.remove(conn)

    def sweep(self, now: float) -> None:
        """Close connections idle for IDLE_SECONDS."""
        horizon = now - IDLE_SECONDS
        stale = [conn for conn in self.idle if conn.idle_since < horizon]
        for conn in stale:
            self.idle.remove(conn)
            conn.abort()

    def close(self) -> None:
        for conn in self.idle:
            conn.abort()
        self.idle.clear()
