"""The public listener: an asyncio `Protocol` per client connection on uvloop, llhttp framing.

Each parsed request becomes an `Exchange` (the request view plus the way to answer it) and runs
the handler in its own task. Requests pipelined on one connection are answered in order: the
next handler starts when the previous response has been written. A connection closes after a
response when the client asked (`Connection: close`, HTTP/1.0 without keep-alive), when the
request body was not read to its end (the next request's first byte cannot be found), after a
framing error, or when the server drains. `Plane.stop` stops accepting, closes idle keep-alive
connections at once and lets in-flight exchanges finish within the grace period.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from services.gateway.dataplane.body import BodyStream
from services.gateway.dataplane.framing import FramingError, FramingLimits, Head, RequestFramer
from services.gateway.dataplane.response import Exchange
from services.gateway.request import ClientInfo, Request

log = logging.getLogger("gateway.dataplane")

Handler = Callable[[Exchange], Awaitable[None]]
Resolve = Callable[[str, Head, bool], ClientInfo]
Refused = Callable[[str, FramingError], None]
MAX_PIPELINED = 16
SWEEP_SECONDS = 1.0


class Connection(asyncio.Protocol):
    def __init__(self, plane: Plane) -> None:
        self.plane = plane
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport subclasses
        self.peer = "unknown"
        self.framer = RequestFramer(self, plane.limits)
        self.queue: deque[Exchange] = deque()
        self.current: Exchange | None = None
        self.receiving: Exchange | None = None  # the exchange whose body is arriving
        self.closing = False
        self.tunnel: Callable[[bytes], None] | None = None  # set once upgraded (tunnel.py)
        self.on_tunnel_lost: Callable[[BaseException | None], None] | None = None
        self.go_away: Callable[[], None] | None = None  # a tunnel's close on shutdown (1001)
        self.on_writable: list[Callable[[], None]] = []
        self.write_paused = False
        self._pauses: set[str] = set()
        self.last_active = time.monotonic()
        self.upgrading = False
        self.upgrade_bytes = b""

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if isinstance(peer, tuple) else "unknown"
        self.plane.connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:
            self.tunnel(data)
            return
        if self.upgrading:
            self.upgrade_bytes += data
            return
        if self.closing and self.current is None:
            return
        self.last_active = time.monotonic()
        try:
            offset = self.framer.feed(data)
        except FramingError as exc:
            self._refuse(exc)
            return
        if offset is not None:  # an upgrade request: hold its tunnel bytes until it is decided
            self.upgrading = True
            self.upgrade_bytes = data[offset:]
            self.pause("upgrade")

    def eof_received(self) -> bool | None:
        self.closing = True  # half-closed: answer what was asked, then close
        if self.tunnel is not None or self.current is not None or self.queue:
            return True
        return None

    def connection_lost(self, exc: BaseException | None) -> None:
        self.plane.forget(self)
        lost = exc or ConnectionResetError("client closed the connection")
        if self.on_tunnel_lost is not None:  # the tunnel closes its other side and finishes
            self.on_tunnel_lost(exc)
            return
        for exchange in (self.current, *self.queue):
            if exchange is not None:
                exchange.lost(lost)
        self.queue.clear()
        for callback in self.on_writable:
            callback()
        self.on_writable.clear()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        callbacks, self.on_writable = self.on_writable, []
        for callback in callbacks:
            callback()

    # --- reading control ----------------------------------------------------------------------

    def pause(self, reason: str) -> None:
        if not self._pauses and self.transport is not None:
            self.transport.pause_reading()
        self._pauses.add(reason)

    def resume(self, reason: str) -> None:
        if reason in self._pauses:
            self._pauses.discard(reason)
            if not self._pauses and not self.transport.is_closing():
                self.transport.resume_reading()

    # --- framing events -----------------------------------------------------------------------

    def on_head(self, head: Head) -> None:
        plane = self.plane
        body: BodyStream | None = None
        if head.chunked or head.content_length:
            body = BodyStream(self._pause_body, self._resume_body)
        request = Request(
            head.method,
            head.target,
            head.raw_headers,
            version=head.version,
            keep_alive=head.keep_alive,
            client=plane.resolve(self.peer, head, False),
            content=body if body is not None else _EMPTY,
            content_length=head.content_length,
            chunked=head.chunked,
            upgrade=head.upgrade,
        )
        exchange = Exchange(self, request, body)
        if body is not None and head.expect_continue:
            body._continue = exchange.send_continue
        self.receiving = exchange
        if self.current is None:
            self._start(exchange)
        else:
            self.queue.append(exchange)
            if len(self.queue) >= MAX_PIPELINED:
                self.pause("pipeline")

    def on_body(self, chunk: bytes) -> None:
        receiving = self.receiving
        if receiving is not None and receiving.body is not None:
            receiving.body.feed(chunk)

    def on_end(self) -> None:
        receiving = self.receiving
        if receiving is not None and receiving.body is not None:
            receiving.body.feed_eof()
        self.receiving = None

    def _pause_body(self) -> None:
        self.pause("body")

    def _resume_body(self) -> None:
        self.resume("body")

    # --- exchanges ----------------------------------------------------------------------------

    def _start(self, exchange: Exchange) -> None:
        if exchange.pending_refusal is not None:
            exchange.send_refusal(exchange.pending_refusal)
            self.transport.close()
            return
        self.current = exchange
        exchange.task = self.plane.loop.create_task(self._run(exchange))

    async def _run(self, exchange: Exchange) -> None:
        exchange.started = True
        try:
            await self.plane.handler(exchange)
        except FramingError as exc:  # its body turned out malformed while it was read
            if not exchange.head_sent:
                exchange.send_refusal(exc)
            else:
                exchange.fail()
        except Exception:
            log.exception("unhandled error in the data plane")
            exchange.fail()
        finally:
            self.finished(exchange)

    def finished(self, exchange: Exchange) -> None:
        """The handler of `exchange` returned: go on with the next request, or close."""
        if self.current is not exchange:
            return
        self.current = None
        self.last_active = time.monotonic()
        transport = self.transport
        if transport.is_closing():
            return
        if not exchange.ended:
            exchange.fail()
        body = exchange.body
        unread = body is not None and not body.complete
        if exchange.close_after or unread or self.closing or not exchange.request.keep_alive:
            transport.close()
            return
        if self.queue:
            self.resume("pipeline")
            self._start(self.queue.popleft())

    def _refuse(self, exc: FramingError) -> None:
        """A request that could not be framed: answer it after the ones before it, close."""
        self.plane.refused(self.peer, exc)
        refusal = Exchange.refusal(self, exc)
        self.closing = True
        self.pause("refused")
        receiving, self.receiving = self.receiving, None
        if receiving is not None:  # the error is in a body: that request is the refused one
            if receiving is self.current and not receiving.started and receiving.task is not None:
                receiving.task.cancel()  # it has not run yet: nothing of it left the gateway
                self.current = None
            elif receiving.body is not None:
                receiving.body.fail(exc)
                return  # its handler answers the refusal (and the connection closes after it)
            else:
                self.queue.remove(receiving)
        if self.current is None:
            refusal.send_refusal(exc)
            self.transport.close()
        else:
            self.queue.append(refusal)
            refusal.pending_refusal = exc

    def write(self, data: bytes) -> None:
        self.transport.write(data)


class _Empty:
    async def readany(self) -> bytes:
        return b""

    def at_eof(self) -> bool:
        return True


_EMPTY = _Empty()


class Plane:
    """The listening sockets and every open connection of one process."""

    def __init__(
        self,
        handler: Handler,
        *,
        limits: FramingLimits,
        resolve: Resolve,
        refused: Refused | None = None,
        keepalive_seconds: float = 75.0,
    ) -> None:
        self.handler = handler
        self.limits = limits
        self.resolve = resolve
        self._refused = refused
        self.keepalive_seconds = keepalive_seconds
        self.connections: set[Connection] = set()
        self.drained = asyncio.Event()  # set when the last connection closes while stopping
        self.servers: list[asyncio.AbstractServer] = []
        self.loop = asyncio.get_running_loop()
        self._sweeper: asyncio.Task[None] | None = None
        self.port = 0
        self.on_sweep: list[Callable[[], None]] = []  # housekeeping once a second (pools)
        self.on_stop: list[Callable[[], None]] = []  # after the last connection (pools)

    def forget(self, conn: Connection) -> None:
        self.connections.discard(conn)
        if not self.connections:
            self.drained.set()

    def refused(self, peer: str, exc: FramingError) -> None:
        if self._refused is not None:
            self._refused(peer, exc)

    async def listen(self, host: str, port: int, *, reuse_port: bool = False) -> int:
        """Start accepting on host:port (0 picks a free port); returns the port."""
        self.loop = asyncio.get_running_loop()
        server = await self.loop.create_server(
            lambda: Connection(self), host, port, reuse_port=reuse_port or None, backlog=2048
        )
        self.servers.append(server)
        if self._sweeper is None:
            self._sweeper = self.loop.create_task(self._sweep())
        sockets = server.sockets
        self.port = int(sockets[0].getsockname()[1]) if sockets else port
        return self.port

    async def _sweep(self) -> None:
        """Close keep-alive connections idle for longer than `keepalive_seconds`."""
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            horizon = time.monotonic() - self.keepalive_seconds
            for conn in list(self.connections):
                idle = conn.current is None and conn.tunnel is None and not conn.queue
                if idle and conn.last_active < horizon:
                    conn.transport.close()
            for callback in self.on_sweep:
                callback()

    async def stop(self, grace: float) -> None:
        """Stop accepting; close idle connections now and busy ones after their response,
        aborting what is still open when `grace` seconds have passed."""
        for server in self.servers:
            server.close()
        for conn in list(self.connections):
            conn.closing = True
            if conn.go_away is not None:
                conn.go_away()
            elif conn.current is None and conn.tunnel is None and not conn.queue:
                conn.transport.close()
        if self.connections:
            self.drained.clear()
            try:
                async with asyncio.timeout(grace):
                    await self.drained.wait()
            except TimeoutError:
                log.warning("%d connections still open after %.1f s", len(self.connections), grace)
        for conn in list(self.connections):
            conn.transport.abort()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for callback in self.on_stop:
            callback()
        for server in self.servers:
            await server.wait_closed()
        self.servers.clear()
