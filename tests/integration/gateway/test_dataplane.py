"""HTTP/1.1 behaviour of the data plane on the wire (raw sockets): pipelining answered in order,
Expect: 100-continue, HEAD/204/304 framing, Connection: close and HTTP/1.0, flow control
towards a slow client, and a graceful stop that drains keep-alive connections and closes
WebSocket tunnels with 1001."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import WSMsgType

from services.gateway.dataplane.server import Connection
from services.gateway.dataplane.tunnel import FrameBoundaries, close_frame
from tests.gateway_support import Gateway, running_gateway

pytestmark = pytest.mark.integration

# A download sized in its query (`?bytes=67108864`), with the WAF's signatures on: a number is
# not a host.
BULK_ROUTE = """
  - id: bulk
    prefix: /bulk
    upstream: backend
    strip_prefix: true
"""
AUTH_ROUTE = """
  - id: private
    prefix: /private
    upstream: backend
    strip_prefix: true
    auth: jwt
"""


class Wire:
    """One raw client connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, gw: Gateway) -> Wire:
        return cls(*await asyncio.open_connection("127.0.0.1", gw.client.port))

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def head(self) -> tuple[int, dict[str, str]]:
        raw = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        lines = raw.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        return int(lines[0].split()[1]), headers

    async def response(self, *, head_only: bool = False) -> tuple[int, dict[str, str], bytes]:
        status, headers = await self.head()
        if head_only or status in (204, 304) or 100 <= status < 200:
            return status, headers, b""
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                size = int((await self.reader.readline()).strip(), 16)
                data = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                body += data[:-2]
        else:
            body = await self.reader.read()
        return status, headers, body

    async def closed(self) -> bool:
        return await asyncio.wait_for(self.reader.read(1), 10) == b""

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def get(path: str, *extra: str, method: str = "GET", version: str = "1.1") -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: gw", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_pipelined_requests_are_answered_in_order() -> None:
    async with running_gateway() as gw:
        wire = await Wire.open(gw)
        wire.send(get("/api/delay?ms=80&n=1") + get("/api/delay?n=2") + get("/api/echo?n=3"))
        answers = [await wire.response() for _ in range(3)]
        await wire.close()
    assert [status for status, _, _ in answers] == [200, 200, 200]
    assert answers[0][2] == b"ms=80&n=1"
    assert answers[1][2] == b"n=2"
    assert b'"query": "n=3"' in answers[2][2]


async def test_expect_100_continue_is_answered_before_the_body_is_sent() -> None:
    async with running_gateway(AUTH_ROUTE) as gw:
        wire = await Wire.open(gw)
        wire.send(
            get(
                "/api/echo",
                "Content-Type: text/plain",
                "Content-Length: 5",
                "Expect: 100-continue",
                method="POST",
            )
        )
        status, _ = await wire.head()
        assert status == 100
        wire.send(b"hello")
        status, _, body = await wire.response()
        assert status == 200
        assert b'"body": "hello"' in body
        # A request refused from its head (here the WAF: a body without a Content-Type) gets
        # its answer at once, no 100, and the unread body closes the connection.
        wire.send(get("/private/echo", "Content-Length: 5", "Expect: 100-continue", method="POST"))
        status, headers, _ = await wire.response()
        assert status == 403
        assert headers["connection"] == "close"
        assert await wire.closed()
        await wire.close()
        assert gw.upstream.hits["echo"] == 1


async def test_head_204_and_304_answers_have_no_body_and_keep_the_connection() -> None:
    async with running_gateway() as gw:
        wire = await Wire.open(gw)
        wire.send(get("/api/echo", method="HEAD") + get("/api/status?code=204"))
        wire.send(get("/api/status?code=304") + get("/api/status?code=201"))
        status, headers, _ = await wire.response(head_only=True)
        assert status == 200
        assert int(headers["content-length"]) > 0  # the length a GET would have
        status, headers, _ = await wire.response()
        assert status == 204
        assert "content-length" not in headers
        assert "transfer-encoding" not in headers
        status, _, _ = await wire.response()
        assert status == 304
        status, _, body = await wire.response()  # the framing above left nothing behind
        assert (status, body) == (201, b"status 201")
        await wire.close()


async def test_connection_close_and_http_1_0() -> None:
    async with running_gateway() as gw:
        wire = await Wire.open(gw)
        wire.send(get("/api/echo", "Connection: close"))
        status, headers, _ = await wire.response()
        assert (status, headers["connection"]) == (200, "close")
        assert await wire.closed()
        await wire.close()

        wire = await Wire.open(gw)
        wire.send(get("/api/echo", version="1.0"))
        status, headers, body = await wire.response()
        assert (status, headers["connection"]) == (200, "close")
        assert b'"method": "GET"' in body
        assert await wire.closed()
        await wire.close()

        wire = await Wire.open(gw)
        wire.send(get("/api/echo", "Connection: keep-alive", version="1.0"))
        status, headers, _ = await wire.response()
        assert (status, headers["connection"]) == (200, "keep-alive")
        wire.send(get("/api/echo", version="1.1"))
        assert (await wire.response())[0] == 200
        await wire.close()


def _connection(gw: Gateway) -> Connection:
    (conn,) = gw.plane.connections
    return conn


async def until(condition: object, seconds: float = 10) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_a_slow_client_pauses_the_upstream_instead_of_filling_memory() -> None:
    size = 64 * 1024 * 1024
    async with running_gateway(BULK_ROUTE) as gw:
        wire = await Wire.open(gw)
        wire.send(get(f"/bulk/download?bytes={size}"))
        await until(lambda: gw.plane.connections and _connection(gw).write_paused)
        conn = _connection(gw)
        # The client reads nothing: the gateway holds about one socket buffer, not the body.
        await until(lambda: conn.on_writable)  # the upstream was paused behind the client
        assert conn.transport.get_write_buffer_size() < 4 * 1024 * 1024
        status, _ = await wire.head()
        assert status == 200
        received = 0
        while True:
            line = await wire.reader.readline()
            chunk = int(line.strip(), 16)
            await wire.reader.readexactly(chunk + 2)
            if chunk == 0:
                break
            received += chunk
        assert received == size
        await wire.close()


async def test_stop_closes_idle_connections_and_lets_in_flight_ones_finish() -> None:
    async with running_gateway() as gw:
        idle = await Wire.open(gw)
        idle.send(get("/api/echo"))
        assert (await idle.response())[0] == 200
        busy = await Wire.open(gw)
        busy.send(get("/api/download?bytes=1000&hold=1"))
        await asyncio.wait_for(gw.upstream.download_started.wait(), 10)
        stopping = asyncio.ensure_future(gw.plane.stop(10))
        assert await idle.closed()  # the idle keep-alive connection went at once
        assert not stopping.done()
        gw.upstream.release.set()
        status, _, body = await busy.response()  # its head left before the stop
        assert (status, len(body)) == (200, 1000)
        assert await busy.closed()  # and the connection ends with the answer
        await asyncio.wait_for(stopping, 10)
        await idle.close()
        await busy.close()


async def test_stop_closes_websocket_tunnels_with_1001_on_both_sides() -> None:
    async with running_gateway() as gw, gw.client.ws_connect("/ws") as ws:
        await ws.send_str("hi")
        assert (await ws.receive()).data == "echo:hi"
        stopping = asyncio.ensure_future(gw.plane.stop(10))
        message = await asyncio.wait_for(ws.receive(), 10)
        assert message.type is WSMsgType.CLOSE
        assert message.data == 1001
        await asyncio.wait_for(gw.upstream.closed.wait(), 10)
        assert gw.upstream.hits["ws_close_code"] == 1001
        await asyncio.wait_for(stopping, 10)


@pytest.mark.parametrize("cut", [1, 2, 3, 7, 11])
def test_frame_boundaries_are_found_across_reads(cut: int) -> None:
    frames = [
        bytes((0x81, 5)) + b"hello",
        bytes((0x82, 126)) + (300).to_bytes(2, "big") + b"x" * 300,
        bytes((0x81, 0x80 | 3)) + b"\x01\x02\x03\x04" + b"abc",  # masked
        bytes((0x82, 127)) + (70_000).to_bytes(8, "big") + b"y" * 70_000,
        close_frame(1001, b"bye", masked=True),
    ]
    stream = b"".join(frames)
    ends = set()
    position = 0
    for frame in frames:
        position += len(frame)
        ends.add(position)
    tracker = FrameBoundaries()
    fed = 0
    for start in range(0, len(stream), cut if cut < 7 else 5000):
        piece = stream[start : start + (cut if cut < 7 else 5000)]
        tracker.feed(piece)
        fed += len(piece)
        assert tracker.at_boundary == (fed in ends), fed
