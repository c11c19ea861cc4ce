"""Avatars through the real gateway, notifier and avatars service (in this process, on the real
broker and store), as a player's browser and the push service see them:

- the upload through the gateway (JWT route, signed upload URL with no JWT, the body streamed
  through the gateway), the result on the player's WebSocket (`/ws`) and by Web Push (VAPID,
  `Urgency: low`, `Topic: avatar`, a TTL), received and decrypted by the local push double;
- per-player upload limits from the gateway's `avatar-uploads` usage plan (429 past it);
- 413 through the gateway for a declared body over the limit;
- the page at /avatars/ in headless Chromium: choose a file, progress, the result by push.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import shutil
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from websockets.asyncio.client import connect

from services.avatars.app import init_app as init_avatars
from services.gateway.limits.plans import PlanStore, UsagePlan
from services.gateway.settings import GatewaySettings
from services.notifier.app import init_app as init_notifier
from services.notifier.keys import WS_SERVER
from shared.http.app import kafka_bus
from shared.store import Store
from tests import notifier_support
from tests.avatars_images import photo_jpeg
from tests.avatars_support import bearer, platform, settings
from tests.gateway_support import PlaneClient, serving
from tests.pushservice import PushService

pytestmark = pytest.mark.e2e
BROWSER = Path(__file__).resolve().parents[1] / "browser"
SCRIPT = BROWSER / "avatars_page.js"
CHROMIUM = Path("/usr/bin/chromium")
ROUTES = Path(__file__).resolve().parents[2] / "services" / "gateway" / "routes.yaml"


def routes(avatars: str, notifier: str, notifier_ws: str) -> str:
    """The shipped route table's avatar routes, pointed at this test's servers."""
    urls = {"AVATARS": avatars, "NOTIFIER": notifier, "NOTIFIER_WS": notifier_ws}
    return re.sub(
        r"\$\{([A-Z_]+)_URL:-[^}]*\}",
        lambda m: urls.get(m.group(1), m.group(0)),
        ROUTES.read_text(encoding="utf-8"),
    )


def url_of(client: TestClient[Any, Any]) -> str:
    return str(client.make_url("")).rstrip("/")


@dataclass
class Edge:
    base: str
    push: PushService
    gateway: PlaneClient


@pytest.fixture
async def edge(kafka_env: str, unique: str, tmp_path: Path, store: Store) -> AsyncIterator[Edge]:
    shared = platform()
    # The per-player plan the shipped route table names: two uploads at once, one a second.
    await PlanStore(store.db["plans"]).create(
        UsagePlan(id="avatar-uploads", name="Avatar uploads", rate=1, burst=3)
    )
    async with AsyncExitStack() as stack:
        push = await stack.enter_async_context(PushService())
        notifier_settings = notifier_support.settings(
            shared, consumer_group_prefix=f"notifier-{unique}"
        ).model_copy(update={"platform": shared})
        notifier = await init_notifier(notifier_settings, bus=kafka_bus)
        notifier_http = await stack.enter_async_context(TestClient(TestServer(notifier)))
        avatars = await init_avatars(settings(tmp_path, unique), bus=kafka_bus)
        avatars_http = await stack.enter_async_context(TestClient(TestServer(avatars)))
        table = routes(
            url_of(avatars_http),
            url_of(notifier_http),
            f"http://127.0.0.1:{notifier[WS_SERVER].port}",
        )
        served = await stack.enter_async_context(
            serving(GatewaySettings(routes_yaml=table, platform=shared), bus=kafka_bus)
        )
        session = await stack.enter_async_context(aiohttp.ClientSession(base_url=served.url))
        for client in (notifier_http, avatars_http):
            ready = await client.get("/readyz")
            assert ready.status == 200, await ready.text()
        gateway = PlaneClient(session, "127.0.0.1", served.port)
        yield Edge(served.url, push, gateway)


async def test_upload_result_by_socket_and_web_push_through_the_gateway(
    edge: Edge, unique: str
) -> None:
    user = f"p{unique}"
    auth = bearer(user)
    http = edge.gateway
    key = (await (await http.get("/notifier/webpush/vapid-public-key")).json())["publicKey"]
    browser = edge.push.subscriber(server_key=key)
    # Through the gateway: the push double's endpoint is an http URL to 127.0.0.1, a URL in a
    # JSON body that the WAF lets through at paranoia level 1 (the notifier checks its host).
    saved = await http.post("/notifier/webpush/subscriptions", json=browser.subscription(),
                            headers=auth)  # fmt: skip
    assert saved.status == 201, await saved.text()
    token = auth["Authorization"].split()[1]
    ws_url = edge.base.replace("http", "ws", 1) + "/ws"
    async with connect(ws_url, subprotocols=["surge.v1", f"bearer.{token}"]) as ws:  # type: ignore[list-item]
        assert json.loads(await ws.recv())["type"] == "welcome"
        created = await http.post("/avatars/uploads", json={"content_type": "image/jpeg"},
                                  headers=auth)  # fmt: skip
        assert created.status == 201, await created.text()
        body = await created.json()
        ticket = body["upload"]
        assert ticket["url"].startswith(edge.base + "/avatars/blobs/")  # the gateway's address
        async with aiohttp.ClientSession() as session:  # a plain client: no JWT, just the URL
            sent = await session.put(ticket["url"], data=photo_jpeg(1600, 1200),
                                     headers=ticket["headers"])  # fmt: skip
            assert sent.status == 200, await sent.text()
            replay = await session.put(ticket["url"], data=b"x", headers=ticket["headers"])
            assert replay.status == 403
        heard: list[str] = []
        async with asyncio.timeout(60):
            while "published" not in heard:
                frame = json.loads(await ws.recv())
                if frame.get("type") == "publication" and frame["event"] == "avatars.upload":
                    assert frame["data"]["upload_id"] == body["id"]
                    heard.append(frame["data"]["state"])
    assert heard == ["received", "inspected", "moderated", "approved", "variants_ready",
                     "published"]  # fmt: skip
    await edge.push.wait_for(1, timeout=30)
    got = edge.push.received[0]
    assert got.message["title"] == "Your new avatar is live"
    assert got.message["url"] == "/avatars/"
    assert got.message["data"]["state"] == "published"
    assert (got.urgency, got.topic, got.ttl) == ("low", "avatar", 86400)
    assert edge.push.refused == []
    me = await (await http.get("/avatars/me", headers=auth)).json()
    image = await http.get(me["urls"]["128x128"], headers={"Accept": "image/webp"})
    assert image.status == 200
    assert image.content_type == "image/webp"
    assert (await http.get(me["urls"]["128x128"].replace("128x128", "100x100"))).status == 400


async def test_per_player_upload_plan_and_oversized_bodies_at_the_gateway(
    edge: Edge, unique: str
) -> None:
    auth = bearer(f"q{unique}")
    http = edge.gateway
    statuses = []
    for _ in range(5):
        answer = await http.post("/avatars/uploads", json={}, headers=auth)
        statuses.append(answer.status)
    assert statuses[:3] == [201, 201, 201]
    assert 429 in statuses[3:]
    limited = await http.post("/avatars/uploads", json={}, headers=auth)
    assert limited.status == 429
    assert "usage plan 'avatar-uploads' of user" in (await limited.json())["detail"]
    other = await http.post("/avatars/uploads", json={}, headers=bearer(f"r{unique}"))
    assert other.status == 201  # per player
    ticket = (await other.json())["upload"]
    path = ticket["url"].removeprefix(edge.base)
    oversized = io.BytesIO(b"\xff\xd8\xff" + bytes(26 * 1024 * 1024))
    too_big = await http.put(path, data=oversized, headers=ticket["headers"])
    assert too_big.status == 413
    assert (await http.post("/avatars/uploads", json={})).status == 401  # JWT route


async def test_the_page_uploads_and_shows_the_result_by_push(
    edge: Edge, unique: str, tmp_path: Path
) -> None:
    if not (CHROMIUM.exists() and (BROWSER / "node_modules" / "playwright-core").exists()):
        pytest.fail("needs /usr/bin/chromium and tests/browser/node_modules: run `make test`")
    image = tmp_path / "me.jpg"
    image.write_bytes(photo_jpeg(2000, 1500, seed=21))
    token = bearer(f"s{unique}")["Authorization"].split()[1]
    config = {
        "url": f"{edge.base}/avatars/?token={token}",
        "file": str(image),
        "userDataDir": str(tmp_path / "chromium"),
        "timeoutMs": 60_000,
    }
    node = shutil.which("node") or "node"
    proc = await asyncio.create_subprocess_exec(
        node, str(SCRIPT), json.dumps(config), stdout=asyncio.subprocess.PIPE
    )
    try:
        async with asyncio.timeout(90):
            out, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result["errors"] == [], result
    assert result["state"] == "published", result
    assert result["states"][-1] == "published"
    assert set(result["states"]) <= {"received", "inspected", "moderated", "approved",
                                     "variants_ready", "published"}  # fmt: skip
    assert result["progress"] == "100"
    assert "/media/avatars/" in result["current"]
    assert result["currentLoaded"] is True  # the published avatar rendered in the page
    assert result["polls"] == 0, "the result came by push, not by polling"
    assert result["push"].startswith(("on", "unavailable")), result["push"]
