"""The ceiling of the gateway's design: a bare reverse proxy on uvloop protocols + httptools.

    python bench/baselines/llhttp_proxy.py --port P --upstream U [--workers N]

What the gateway's data plane is built from, minus every feature: an asyncio `Protocol` per
client connection with llhttp parsing every request, a pool of keep-alive upstream connections
with llhttp parsing every response, hop-by-hop headers dropped and X-Forwarded-For added, the
status and body relayed (Content-Length framing). No WAF, auth, limits, tracing, metrics or
logging. WORKERS processes share the port with SO_REUSEPORT, as the gateway's do.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import httptools

WORKER_ENV = "BARE_LLHTTP_WORKER"
HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"te", b"trailer", b"transfer-encoding", b"upgrade",
     b"proxy-connection", b"content-length", b"host"}
)  # fmt: skip


class Upstream(asyncio.Protocol):
    def __init__(self, pool: list[Upstream]) -> None:
        self.pool = pool
        self.parser = httptools.HttpResponseParser(self)
        self.transport: Any = None
        self.client: Client | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        client, self.client = self.client, None
        status = self.parser.get_status_code()
        headers, self.headers = self.headers, []
        body = b"".join(self.body)
        self.body = []
        self.pool.append(self)
        if client is not None:
            client.answer(status, headers, body)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self in self.pool:
            self.pool.remove(self)


class Client(asyncio.Protocol):
    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.parser = httptools.HttpRequestParser(self)
        self.transport: Any = None
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.peer = b"unknown"

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.peer = transport.get_extra_info("peername")[0].encode()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        lines = [b"%s %s HTTP/1.1\r\nHost: %s\r\n" % (self.parser.get_method(), self.url,
                                                       self.proxy.host)]  # fmt: skip
        for name, value in self.headers:
            if name.lower() not in HOP_BY_HOP:
                lines.append(b"%s: %s\r\n" % (name, value))
        body = b"".join(self.body)
        lines.append(b"X-Forwarded-For: %s\r\nContent-Length: %d\r\n\r\n" % (self.peer, len(body)))
        self.url, self.headers, self.body = b"", [], []
        request = b"".join(lines) + body
        asyncio.get_running_loop().create_task(self.proxy.send(self, request))

    def answer(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        lines = [b"HTTP/1.1 %d OK\r\n" % status]
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP:
                lines.append(b"%s: %s\r\n" % (name, value))
        lines.append(b"Content-Length: %d\r\n\r\n" % len(body))
        self.transport.write(b"".join(lines) + body)


class Proxy:
    def __init__(self, port: int) -> None:
        self.port = port
        self.host = b"127.0.0.1:%d" % port
        self.pool: list[Upstream] = []

    async def send(self, client: Client, request: bytes) -> None:
        if self.pool:
            upstream = self.pool.pop()
        else:
            loop = asyncio.get_running_loop()
            _, upstream = await loop.create_connection(
                lambda: Upstream(self.pool), "127.0.0.1", self.port
            )
        upstream.client = client
        upstream.transport.write(request)


async def serve(port: int, upstream: int) -> None:
    loop = asyncio.get_running_loop()
    proxy = Proxy(upstream)
    server = await loop.create_server(
        lambda: Client(proxy), "127.0.0.1", port, reuse_port=True, backlog=2048
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", type=int, required=True, help="upstream port (127.0.0.1)")
    parser.add_argument("--workers", type=int, default=2)
    opts = parser.parse_args(argv)
    if os.environ.get(WORKER_ENV) is None:
        env = {**os.environ, WORKER_ENV: "1"}
        children = [
            subprocess.Popen([sys.executable, *sys.argv], env=env) for _ in range(opts.workers)
        ]

        def forward(signum: int, _frame: object) -> None:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signum)

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, forward)
        return max((child.wait() for child in children), key=abs)
    import uvloop

    uvloop.run(serve(opts.port, opts.upstream))
    return 0


if __name__ == "__main__":
    sys.exit(main())
