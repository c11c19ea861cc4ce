"""Size limits through the gateway's data plane: 414, 431 and 413 as problem+json whatever the
size (the framing stops reading at the limit), a chunked body refused mid-stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.gateway_support import running_gateway
from tests.unit.gateway.waf_support import Reply, make_waf, serve, table

pytestmark = pytest.mark.unit

ROUTES = table(
    {"id": "api", "prefix": "/api", "upstream": "up"},
    {"id": "small", "prefix": "/small", "upstream": "up", "waf": {"max_body_bytes": 10}},
)
KIB = 1024


def problem_status(response: Reply) -> int:
    assert response.content_type == "application/problem+json"
    status: int = response.json()["status"]
    return status


async def test_url_over_the_limit_is_414_and_under_passes() -> None:
    async with serve(make_waf(waf_max_url_bytes=8192), ROUTES) as gw:
        response = await gw.get("/api/" + "a" * 8100)
        assert response.status == 200
        response = await gw.get("/api/x?q=" + "a" * 9000)
        assert response.status == 414
        assert problem_status(response) == 414
        assert (response.json())["rule_id"] == "size-url"


@pytest.mark.parametrize("size", [8193, 20_000, 200_000])
async def test_any_url_over_the_limit_is_a_414_problem(size: int) -> None:
    """aiohttp answered a plain 400 past twice the limit; the plane answers 414 at any length,
    without reading the rest of the target."""
    async with serve(make_waf(waf_max_url_bytes=8192), ROUTES) as gw:
        response = await gw.get("/api/" + "a" * (size - len("/api/")))
        assert response.status == 414
        assert response.json()["rule_id"] == "size-url"


async def test_header_block_over_the_limit_is_431() -> None:
    async with serve(make_waf(waf_max_header_bytes=16 * KIB), ROUTES) as gw:
        several = {f"X-Pad-{i}": "a" * 6000 for i in range(3)}  # each under, together over
        response = await gw.get("/api/x", headers=several)
        assert response.status == 431
        assert problem_status(response) == 431
        response = await gw.get("/api/x", headers={"X-Big": "a" * 20_000})
        assert response.status == 431  # one field over the total, still under aiohttp's cap
        response = await gw.get("/api/x", headers={"X-Pad": "a" * 12_000})
        assert response.status == 200


async def test_too_many_header_fields_is_431() -> None:
    async with serve(make_waf(waf_max_headers=100), ROUTES) as gw:
        many = {f"X-H-{i}": "1" for i in range(120)}
        response = await gw.get("/api/x", headers=many)
        assert response.status == 431
        few = {f"X-H-{i}": "1" for i in range(50)}
        response = await gw.get("/api/x", headers=few)
        assert response.status == 200


async def test_declared_content_length_over_the_limit_is_413_before_reading() -> None:
    async with serve(make_waf(waf_max_body_bytes=64 * KIB), ROUTES) as gw:
        response = await gw.post("/api/upload", data=b"x" * (64 * KIB + 1))
        assert response.status == 413
        assert (response.json())["rule_id"] == "size-body"
        response = await gw.post("/api/upload", data=b"x" * (64 * KIB))
        assert response.status == 200
        assert (response.json())["received"] == 64 * KIB


async def test_the_route_can_lower_the_body_limit() -> None:
    async with serve(make_waf(), ROUTES) as gw:
        response = await gw.post("/small", data=b"x" * 11)
        assert response.status == 413
        response = await gw.post("/small", data=b"x" * 10)
        assert response.status == 200


@pytest.mark.parametrize("content_type", ["application/octet-stream", "application/json"])
async def test_a_chunked_body_is_refused_mid_stream_at_the_limit(content_type: str) -> None:
    """The 413 arrives although the body was never finished: the gateway stopped reading."""
    async with serve(make_waf(waf_max_body_bytes=64 * KIB), ROUTES) as gw:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        try:
            writer.write(
                b"POST /api/upload HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n"
                b"Content-Type: " + content_type.encode() + b"\r\n\r\n"
            )
            chunk = b"x" * (16 * KIB)
            for _ in range(6):  # 96 KiB sent, the terminating chunk never is
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), timeout=10)
            assert status_line.startswith(b"HTTP/1.1 413"), status_line
        finally:
            writer.close()
            await writer.wait_closed()


async def test_a_chunked_json_body_larger_than_inspected_is_streamed_whole() -> None:
    """The inspected prefix is replayed to the proxy ahead of the rest of the stream."""

    async def body() -> AsyncIterator[bytes]:
        yield b'{"items": ['
        for _ in range(2000):
            yield b'"benign text", '
        yield b'"end"]}'

    expected = len(b'{"items": [') + 2000 * len(b'"benign text", ') + len(b'"end"]}')
    async with serve(make_waf(waf_body_inspect_bytes=1024), ROUTES) as gw:
        headers = {"Content-Type": "application/json"}
        response = await gw.post("/api/bulk", data=body(), headers=headers)
        assert response.status == 200
        assert (response.json())["received"] == expected


async def test_an_oversize_body_prefix_is_inspected_as_text() -> None:
    payload = b'{"q": "<script>alert(1)</script>", "pad": "' + b"a" * 4000 + b'"}'
    async with serve(make_waf(waf_body_inspect_bytes=1024), ROUTES) as gw:
        headers = {"Content-Type": "application/json"}
        response = await gw.post("/api/x", data=payload, headers=headers)
        assert response.status == 403
        assert (response.json())["rule_id"] == "xss-001"


async def test_oversize_policy_match_blocks_and_no_match_passes() -> None:
    payload = b'{"pad": "' + b"a" * 4000 + b'"}'
    headers = {"Content-Type": "application/json"}
    waf = make_waf(waf_body_inspect_bytes=1024, waf_body_oversize="match")
    async with serve(waf, ROUTES) as gw:
        response = await gw.post("/api/x", data=payload, headers=headers)
        assert response.status == 403
        assert (response.json())["rule_id"] == "body-oversize"
    waf = make_waf(waf_body_inspect_bytes=1024, waf_body_oversize="no_match")
    attack = b'{"q": "<script>", "pad": "' + b"a" * 4000 + b'"}'
    async with serve(waf, ROUTES) as gw:
        response = await gw.post("/api/x", data=attack, headers=headers)
        assert response.status == 200  # uninspected by policy
        assert (response.json())["received"] == len(attack)


async def test_a_proxied_stream_over_the_limit_answers_413_not_502() -> None:
    """Through the real gateway: `stream_body` goes upstream as it arrives; past the limit the
    client gets the WAF's 413, never a 502 for the upstream connection cut short."""

    async def chunks(count: int) -> AsyncIterator[bytes]:
        for _ in range(count):
            yield b"x" * (16 * KIB)

    async with running_gateway(waf_max_body_bytes=64 * KIB) as gw:
        response = await gw.client.post("/api/upload", data=chunks(3))
        assert response.status == 200
        assert (await response.json())["bytes"] == 48 * KIB
        response = await gw.client.post("/api/upload", data=chunks(8))
        assert response.status == 413
        assert (await response.json())["rule_id"] == "size-body"
