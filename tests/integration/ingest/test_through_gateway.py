"""The ingest through the gateway with the repository's own route table (routes.yaml): pixel and
redirect open to anonymous browsers, the batch endpoint only with credentials, the admin API
not routed, the WAF's size limits in front."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import aiohttp
import pytest
from pydantic import SecretStr

from services.gateway.settings import GatewaySettings
from shared.http.app import kafka_bus
from shared.settings import PlatformSettings
from tests.gateway_support import PlaneClient, serving
from tests.ingest_support import JWT_SECRET, Replica, bearer, events_of, running_ingest

pytestmark = pytest.mark.integration


@pytest.fixture
async def through(
    kafka_env: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[PlaneClient, Replica]]:
    platform = PlatformSettings().model_copy(update={"auth_jwt_secret": SecretStr(JWT_SECRET)})
    async with running_ingest(platform=platform) as ingest:
        monkeypatch.setenv("INGEST_URL", str(ingest.http.make_url("")).rstrip("/"))
        settings = GatewaySettings(platform=platform)
        async with (
            serving(settings, bus=kafka_bus) as gateway,
            aiohttp.ClientSession(base_url=gateway.url) as session,
        ):
            yield PlaneClient(session, "127.0.0.1", gateway.port), ingest


async def test_the_routes_of_routes_yaml_front_the_ingest(
    through: tuple[PlaneClient, Replica], unique: str
) -> None:
    http, ingest = through
    program = f"p{unique}"
    await ingest.put_program(program)
    pixel = await http.get(
        "/t/p.gif", params={"program": program}, headers={"X-Forwarded-For": "198.51.100.7"}
    )
    assert pixel.status == 200
    assert pixel.headers["Content-Type"] == "image/gif"
    click = await http.get(
        "/t/r", params={"program": program, "to": "https://shop.example/"}, allow_redirects=False
    )
    assert click.status == 302
    refused = await http.get(
        "/t/r", params={"program": program, "to": "https://evil.example/"}, allow_redirects=False
    )
    assert refused.status == 400
    batch = {"events": [{"id": "e1", "program": program, "type": "impression"}]}
    assert (await http.post("/t/events", json=batch)).status == 401  # the gateway refuses
    accepted = await http.post("/t/events", json=batch, headers=bearer("app-1"))
    assert accepted.status == 200, await accepted.text()
    assert (await accepted.json())["accepted"] == 1
    too_big = io.BytesIO(b'{"events": [' + b" " * (1024 * 1024 + 10) + b"]}")
    oversized = await http.post(
        "/t/events", data=too_big, headers={**bearer("app-1"), "Content-Type": "application/json"}
    )
    assert oversized.status == 413
    assert (await http.get("/ingest/admin/programs")).status == 404  # never routed
    events = await events_of(program, 3)
    pixel_event = events[0]
    assert pixel_event.ip == "127.0.0.0"  # the gateway's peer, truncated (client not trusted)
    assert [e.type for e in events] == ["impression", "click", "impression"]
    assert events[2].sender == "jwt:app-1"
