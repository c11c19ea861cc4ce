"""WebSocket upgrades proxied both ways, with close codes preserved end to end.

The upstream handshake happens first, so the client gets the subprotocol the upstream chose and
an upstream refusal (401/403/...) is answered as a problem instead of an open-then-closed socket.
Frames are relayed as they come; a close from either side closes the other with the same code
and reason. On gateway shutdown every proxied socket is closed with 1001 (going away) so clients
reconnect to another replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref

import aiohttp
from aiohttp import WSCloseCode, WSMsgType, web
from multidict import CIMultiDict

from services.gateway.dataplane.proxy import upstream_url
from services.gateway.routing.live import UpstreamState
from services.gateway.routing.table import Route
from shared.http.problems import Problem

SOCKETS = web.AppKey("gateway_websockets", weakref.WeakSet[web.WebSocketResponse])
_UNSENDABLE = {1005: 1000, 1006: 1011, 1015: 1011}
MAX_MESSAGE_BYTES = 1024 * 1024
CLOSE_TIMEOUT_SECONDS = 5.0


def is_upgrade(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def _sendable(code: int | None) -> int:
    if code is None:
        return WSCloseCode.OK
    return _UNSENDABLE.get(code, code)


async def proxy_websocket(
    request: web.Request,
    session: aiohttp.ClientSession,
    route: Route,
    upstream: UpstreamState,
    headers: CIMultiDict[str],
) -> web.WebSocketResponse:
    url = upstream_url(route, upstream, request).replace("http", "ws", 1)
    offered = [
        item.strip()
        for item in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
        if item.strip()
    ]
    outgoing = CIMultiDict(
        (k, v) for k, v in headers.items() if not k.lower().startswith("sec-websocket-")
    )
    try:
        upstream_ws = await session.ws_connect(
            url,
            protocols=offered,
            headers=outgoing,
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0),
            max_msg_size=MAX_MESSAGE_BYTES,
            autoping=True,
        )
    except aiohttp.WSServerHandshakeError as exc:
        status = exc.status if 400 <= exc.status < 500 else 502
        detail = f"upstream {upstream.name!r} refused the WebSocket ({exc.status})"
        raise Problem(status, detail) from None
    except (aiohttp.ClientError, TimeoutError):
        upstream.breaker.record(False)
        raise Problem(502, f"upstream {upstream.name!r} is unreachable") from None
    upstream.breaker.record(True)
    client_ws = web.WebSocketResponse(
        protocols=[upstream_ws.protocol] if upstream_ws.protocol else (),
        max_msg_size=MAX_MESSAGE_BYTES,
    )
    await client_ws.prepare(request)
    request.app[SOCKETS].add(client_ws)
    async with upstream_ws:
        bridge = asyncio.create_task(_bridge(client_ws, upstream_ws))
        try:
            await asyncio.shield(bridge)
        except asyncio.CancelledError:
            # aiohttp cancels the handler once the client's connection is gone; let the bridge
            # finish handing the client's close code to the upstream first.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(bridge, CLOSE_TIMEOUT_SECONDS)
            raise
    return client_ws


async def _bridge(client: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse) -> None:
    to_upstream = asyncio.create_task(_pump(client, upstream))
    to_client = asyncio.create_task(_pump(upstream, client))
    done, pending = await asyncio.wait(
        {to_upstream, to_client}, return_when=asyncio.FIRST_COMPLETED
    )
    finished = done.pop()
    code, reason = finished.result() if finished.exception() is None else (1011, "")
    # One side closed: close the other with the same code and reason.
    other = client if finished is to_client else upstream
    await other.close(code=_sendable(code), message=reason.encode()[:123])
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


Side = web.WebSocketResponse | aiohttp.ClientWebSocketResponse


async def _pump(source: Side, target: Side) -> tuple[int | None, str]:
    """Relay until `source` closes; return the close code and reason it gave."""
    while True:
        message = await source.receive()
        if message.type is WSMsgType.TEXT:
            await target.send_str(message.data)
        elif message.type is WSMsgType.BINARY:
            await target.send_bytes(message.data)
        elif message.type is WSMsgType.CLOSE:
            return message.data, message.extra or ""
        elif message.type in (WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return source.close_code, ""


async def close_all(app: web.Application) -> None:
    sockets = app[SOCKETS]
    for ws in list(sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"gateway shutting down")
