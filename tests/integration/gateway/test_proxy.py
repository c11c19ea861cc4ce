"""The gateway in front of a real upstream: routing, headers, streaming, timeouts, retries,
circuit breaking, WebSockets and route reload."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
from collections.abc import AsyncIterator

import pytest
from aiohttp import WSMsgType
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.security.identity import ANONYMOUS
from tests.gateway_support import admin_headers, caller_seen, running_gateway
from tests.identity_support import as_user

pytestmark = pytest.mark.integration


async def test_routes_strip_prefix_and_forward_query(spans: InMemorySpanExporter) -> None:
    async with running_gateway() as gw:
        response = await gw.client.get("/api/echo/a?x=1")
        assert response.status == 200
        seen = await response.json()
        assert seen["path"] == "/echo/a"
        assert seen["query"] == "x=1"
        assert response.headers["X-Request-ID"] == seen["headers"]["x-request-id"]
        trace_id = seen["headers"]["traceparent"].split("-")[1]
        names = {
            (span.name, span.kind.name)
            for span in spans.get_finished_spans()
            if f"{span.context.trace_id:032x}" == trace_id
        }
        assert ("GET backend", "CLIENT") in names
        assert ("GET /{tail}", "SERVER") in names


async def test_unknown_path_is_a_404_problem() -> None:
    async with running_gateway() as gw:
        response = await gw.client.get("/nowhere")
        assert response.status == 404
        assert response.content_type == "application/problem+json"
        assert (await response.json())["status"] == 404


async def test_hop_by_hop_and_identity_headers_never_reach_the_upstream() -> None:
    async with running_gateway() as gw:
        response = await gw.client.get(
            "/api/echo",
            headers={
                "Connection": "keep-alive, X-Secret-Hop",
                "X-Secret-Hop": "1",
                "X-Surge-User-Id": "admin",
                "X-Surge-Roles": "root",
                "X-Surge-Identity": as_user("backend", "admin", roles=["root"])["X-Surge-Identity"],
                "Keep-Alive": "timeout=5",
            },
        )
        seen = (await response.json())["headers"]
        assert "x-secret-hop" not in seen
        assert "keep-alive" not in seen
        # Even a validly signed identity from the client is dropped: only the gateway's own.
        assert caller_seen(seen) == ANONYMOUS


async def test_the_upstream_gets_no_request_headers_the_client_did_not_send() -> None:
    async with running_gateway() as gw:
        bare = await gw.client.get(
            "/api/echo", skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent")
        )
        seen = (await bare.json())["headers"]
        # An added Accept-Encoding would bring back a body compressed for nobody.
        assert not {"accept", "accept-encoding", "user-agent"} & set(seen)
        sent = await gw.client.get(
            "/api/echo", headers={"Accept-Encoding": "br", "User-Agent": "probe/1"}
        )
        seen = (await sent.json())["headers"]
        assert (seen["accept-encoding"], seen["user-agent"]) == ("br", "probe/1")


async def test_forwarded_for_from_an_untrusted_peer_is_replaced() -> None:
    async with running_gateway() as gw:
        response = await gw.client.get("/api/echo", headers={"X-Forwarded-For": "6.6.6.6"})
        seen = (await response.json())["headers"]
        assert seen["x-forwarded-for"] == "127.0.0.1"
        assert seen["x-forwarded-proto"] == "http"


async def test_forwarded_for_from_a_trusted_proxy_is_appended() -> None:
    async with running_gateway(trusted_proxies="127.0.0.0/8") as gw:
        response = await gw.client.get(
            "/api/echo",
            headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"},
        )
        seen = (await response.json())["headers"]
        assert seen["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
        assert seen["x-forwarded-proto"] == "https"


async def test_large_upload_streams_through() -> None:
    payload = os.urandom(3 * 1024 * 1024)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 256 * 1024):
            yield payload[start : start + 256 * 1024]

    async with running_gateway() as gw:
        response = await gw.client.post("/api/upload", data=chunks())
        assert response.status == 200
        body = await response.json()
        assert body["bytes"] == len(payload)
        assert body["sha256"] == hashlib.sha256(payload).hexdigest()


async def test_large_download_streams_through() -> None:
    async with running_gateway() as gw:
        response = await gw.client.get("/api/download?bytes=5000000")
        assert response.status == 200
        total = 0
        async for chunk in response.content.iter_any():
            total += len(chunk)
        assert total == 5_000_000


async def test_compressed_bodies_pass_through_untouched() -> None:
    async with running_gateway() as gw:
        response = await gw.client.get("/api/gzip", auto_decompress=False)
        assert response.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(await response.read()) == b"hello " * 100


async def test_upstream_timeout_is_a_504_problem() -> None:
    async with running_gateway() as gw:
        response = await gw.client.post("/api/slow")
        assert response.status in (404, 405)  # /slow is GET-only upstream: proves routing
        response = await gw.client.get("/api/slow")
        assert response.status == 504
        assert response.content_type == "application/problem+json"


async def test_idempotent_requests_are_retried() -> None:
    async with running_gateway() as gw:
        response = await gw.client.get("/api/flaky")
        assert response.status == 200
        assert gw.upstream.hits["flaky"] == 3


async def test_non_idempotent_requests_are_not_retried() -> None:
    async with running_gateway() as gw:
        response = await gw.client.post("/api/flaky", data=b"{}")
        assert response.status == 503
        assert await response.text() == "try again"
        assert gw.upstream.hits["flaky"] == 1


async def test_breaker_opens_and_answers_503_at_once() -> None:
    async with running_gateway() as gw:
        for _ in range(3):
            await gw.client.post("/api/fail")  # GET-only upstream route: 405 upstream, no failure
        statuses = [(await gw.client.get("/api/fail")).status for _ in range(2)]
        assert 502 in statuses
        hits = gw.upstream.hits["fail"]
        response = await gw.client.get("/api/fail")
        assert response.status == 503
        assert int(response.headers["Retry-After"]) >= 1
        assert gw.upstream.hits["fail"] == hits  # the open breaker spared the upstream


async def test_websocket_is_proxied_with_subprotocol_and_close_code() -> None:
    async with (
        running_gateway() as gw,
        gw.client.ws_connect("/ws", protocols=("chat.v1",)) as ws,
    ):
        assert ws.protocol == "chat.v1"
        await ws.send_str("hi")
        message = await ws.receive()
        assert message.type is WSMsgType.TEXT
        assert message.data == "echo:hi"
        await ws.send_str("close:4001:go away")
        message = await ws.receive()
        assert message.type is WSMsgType.CLOSE
        assert message.data == 4001
        assert message.extra == "go away"


async def test_client_close_code_reaches_the_upstream() -> None:
    async with running_gateway() as gw:
        async with gw.client.ws_connect("/ws") as ws:
            await ws.send_str("hi")
            await ws.receive()
            await ws.close(code=4002)
        await asyncio.wait_for(gw.upstream.closed.wait(), 5)
        assert gw.upstream.hits["ws_close_code"] == 4002


SMUGGLING = {
    "cl-and-te": b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "two-lengths": b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
    b"Content-Length: 40\r\n\r\nabcd",
    "te-not-chunked-last": b"POST /api/echo HTTP/1.1\r\nHost: x\r\n"
    b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    "space-before-colon": b"POST /api/echo HTTP/1.1\r\nHost: x\r\n"
    b"Transfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\nabcd",
    "obs-fold": b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
    b"X-Folded: a\r\n b\r\n\r\nabcd",
    "bad-chunk-size": b"POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"zz\r\nabcd\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("attempt", sorted(SMUGGLING))
async def test_request_smuggling_attempts_are_refused(attempt: str) -> None:
    async with running_gateway() as gw:
        reader, writer = await asyncio.open_connection(gw.client.host, gw.client.port)
        writer.write(SMUGGLING[attempt])
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        rest = await asyncio.wait_for(reader.read(), 10)  # the server closes the connection
        writer.close()
        await writer.wait_closed()
        assert status_line.split()[1] == b"400", status_line
        assert b"Content-Type: application/problem+json" in rest
        assert gw.upstream.hits.get("echo", 0) == 0  # nothing reached the upstream


async def test_admin_needs_the_token() -> None:
    async with running_gateway() as gw:
        assert (await gw.admin.get("/admin/routes")).status == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await gw.admin.get("/admin/routes", headers=wrong)).status == 401
        response = await gw.admin.get("/admin/routes", headers=admin_headers())
        assert response.status == 200
        assert [r["id"] for r in (await response.json())["table"]["routes"]] == ["echo", "ws"]


async def test_invalid_route_table_is_refused_and_the_old_one_stays() -> None:
    async with running_gateway() as gw:
        bad = "routes:\n  - id: x\n    prefix: /x\n    upstream: missing\n"
        response = await gw.admin.put("/admin/routes", data=bad, headers=admin_headers())
        assert response.status == 422
        assert "missing" in (await response.json())["detail"]
        assert (await gw.client.get("/api/echo")).status == 200


async def test_reload_swaps_routes_without_dropping_in_flight_requests() -> None:
    async with running_gateway() as gw:
        in_flight = asyncio.ensure_future(gw.client.get("/api/download?bytes=2000000&hold=1"))
        await asyncio.wait_for(gw.upstream.download_started.wait(), 5)
        table = (
            f"upstreams:\n  b:\n    url: {gw.upstream_url}\n"
            "routes:\n  - id: v2\n    prefix: /v2\n    upstream: b\n    strip_prefix: true\n"
        )
        response = await gw.admin.put("/admin/routes", data=table, headers=admin_headers())
        assert response.status == 200
        assert (await response.json())["version"] == 2
        assert (await gw.client.get("/v2/echo")).status == 200
        assert (await gw.client.get("/api/echo")).status == 404
        gw.upstream.release.set()
        finished = await in_flight
        assert finished.status == 200
        assert len(await finished.read()) == 2_000_000
