"""The WebSocket server (`websockets` asyncio API) on NOTIFIER_WS_PORT, run inside the aiohttp
app's lifecycle so one process serves both ports.

A connection: a signed caller in the handshake (shared/http/identity.py), per-IP and
per-replica limits, authentication within the timeout (subprotocol
or first message), the per-user limit, `welcome` plus the user's own channel, then client
messages until it closes. Shutdown closes every socket with 1001 so clients reconnect (to
another replica) and recover.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from http import HTTPStatus

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from services.notifier import protocol, session
from services.notifier.auth import (
    AuthError,
    Principal,
    authenticate,
    client_ip,
    offered_token,
    select_subprotocol,
)
from services.notifier.channels import user_channel
from services.notifier.hub import Session
from services.notifier.protocol import Code
from services.notifier.session import Context, ProtocolError
from services.notifier.tracing import SessionSpan
from shared.http.identity import IDENTITY_HEADER, refusal
from shared.http.problems import PROBLEM_CONTENT_TYPE
from shared.security import TokenError
from shared.security.identity import IdentityVerifier
from shared.security.networks import Network

log = logging.getLogger("notifier.ws")


class WsServer:
    def __init__(
        self,
        ctx: Context,
        identity: IdentityVerifier,
        trusted: tuple[Network, ...],
        replica: str,
    ) -> None:
        self.ctx, self.identity, self.trusted, self.replica = ctx, identity, trusted, replica
        self._server: Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.port = 0

    async def start(self) -> None:
        s = self.ctx.settings
        self._server = await serve(
            self._handle,
            s.ws_host,
            s.ws_port,
            select_subprotocol=select_subprotocol,
            process_request=self._signed_caller,
            ping_interval=s.ping_interval_seconds,
            ping_timeout=s.ping_timeout_seconds,
            close_timeout=s.close_timeout_seconds,
            max_size=s.max_message_bytes,
            max_queue=4,
            compression=None,  # per-connection zlib state costs ~100 KiB: no
            server_header=None,
            backlog=4096,
            # Several workers: each is a replica of its own, the kernel spreads the sockets.
            reuse_port=s.workers > 1 or None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._sweeper = asyncio.create_task(self._sweep(), name="notifier-idle-sweeper")
        log.info("WebSocket server on ws://%s:%d", s.ws_host, self.port)

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        if self._server is not None:
            self._server.close(close_connections=True, code=Code.GOING_AWAY, reason="shutting down")
            await self._server.wait_closed()

    def _signed_caller(self, conn: ServerConnection, request: Request) -> Response | None:
        """The handshake needs a signed caller (the gateway's /ws route signs one), as every
        request to a service does; 401 problem+json before the upgrade otherwise."""
        try:
            self.identity.verify(request.headers.get(IDENTITY_HEADER))
        except TokenError as exc:
            self.ctx.metrics.refused.labels("401").inc()
            problem = refusal(exc.reason)
            response = conn.respond(HTTPStatus.UNAUTHORIZED, problem.text or "")
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = PROBLEM_CONTENT_TYPE
            response.headers["WWW-Authenticate"] = problem.headers["WWW-Authenticate"]
            return response
        return None

    async def _handle(self, conn: ServerConnection) -> None:
        ctx = self.ctx
        hub, s = ctx.hub, ctx.settings
        sess = Session(conn, client_ip(conn, self.trusted))
        if len(hub.sessions) >= s.max_connections or hub.ips[sess.ip] >= s.max_connections_per_ip:
            ctx.metrics.refused.labels(str(int(Code.TOO_MANY_CONNECTIONS))).inc()
            await conn.close(Code.TOO_MANY_CONNECTIONS, "too many connections")
            return
        hub.add(sess)
        session_span = SessionSpan(conn.request.headers if conn.request is not None else None)
        sess.span_context = session_span.context
        try:
            principal, recover = await self._authenticate(conn)
            if hub.users[principal.subject] >= s.max_connections_per_user:
                raise AuthError(Code.TOO_MANY_CONNECTIONS, "too many connections for this user")
            hub.bind_user(sess, principal.subject)
            session.schedule_expiry(hub, sess, principal)
            own = user_channel(principal.subject)
            hub.send(sess, protocol.welcome(principal.subject, self.replica, own))
            await session.join(ctx, sess, own, recover)
            async for raw in conn:
                session_span.received += 1
                principal = await session.handle(ctx, sess, principal, raw)
        except AuthError as exc:
            ctx.metrics.refused.labels(str(int(exc.code))).inc()
            await conn.close(exc.code, exc.reason)
        except ProtocolError as exc:
            hub.send(sess, protocol.error(Code.PROTOCOL_ERROR, str(exc)))
            await conn.close(Code.PROTOCOL_ERROR, "protocol error")
        except ConnectionClosed:
            pass
        finally:
            hub.remove(sess)
            session_span.end(sess, conn.close_code)

    async def _authenticate(
        self, conn: ServerConnection
    ) -> tuple[Principal, protocol.Position | None]:
        token = offered_token(conn)
        if token is not None:
            return await authenticate(self.ctx.verifier, token), None
        try:
            async with asyncio.timeout(self.ctx.settings.auth_timeout_seconds):
                raw = await conn.recv()
        except TimeoutError:
            raise AuthError(Code.AUTH_TIMEOUT, "authentication timeout") from None
        try:
            msg = session.parse(raw)
        except ProtocolError:
            raise AuthError(Code.UNAUTHORIZED, "expected an auth message") from None
        if not isinstance(msg, protocol.Auth):
            raise AuthError(Code.UNAUTHORIZED, "expected an auth message")
        return await authenticate(self.ctx.verifier, msg.token), msg.recover

    async def _sweep(self) -> None:
        """Close connections that sent nothing for NOTIFIER_IDLE_TIMEOUT_SECONDS."""
        idle = self.ctx.settings.idle_timeout_seconds
        while True:
            await asyncio.sleep(min(idle / 4, 5.0))
            cutoff = time.monotonic() - idle
            for sess in list(self.ctx.hub.sessions):
                if sess.last_seen < cutoff and sess.user is not None:
                    with suppress(Exception):
                        self.ctx.hub.close(sess, Code.IDLE_TIMEOUT, "idle timeout")
