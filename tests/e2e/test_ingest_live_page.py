"""The live campaign page in headless Chromium, through the real gateway, notifier and ingest
(live consumer included) on a real broker: the page reads its channel once, then every figure
arrives by push: hits, clicks, conversions, bot share and bad rows, with no polling.

Chromium is driven by playwright-core from Node (tests/browser/ingest_live_page.js); `make test`
installs both.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from services.gateway.settings import GatewaySettings
from services.notifier.app import init_app as init_notifier
from services.notifier.keys import WS_SERVER
from shared.http.app import kafka_bus
from shared.settings import PlatformSettings
from tests import notifier_support
from tests.gateway_support import serving
from tests.ingest_support import CHROME, GOOGLEBOT, Replica, running_ingest
from tests.notifier_support import JWT_SECRET

pytestmark = pytest.mark.e2e
BROWSER = Path(__file__).resolve().parents[1] / "browser"
SCRIPT = BROWSER / "ingest_live_page.js"
CHROMIUM = Path("/usr/bin/chromium")


def routes(ingest: str, notifier_ws: str) -> str:
    return f"""
upstreams:
  ingest: {{url: "{ingest}"}}
  notifier-ws: {{url: "{notifier_ws}", audience: notifier}}
routes:
  - {{id: ws, prefix: /ws, upstream: notifier-ws, websocket: true}}
  - {{id: pixel, prefix: /t/p.gif, upstream: ingest, methods: [GET]}}
  - {{id: redirect, prefix: /t/r, upstream: ingest, methods: [GET]}}
  - {{id: live, prefix: /t/live/, upstream: ingest, methods: [GET]}}
"""


@pytest.fixture
async def edge(kafka_env: str, unique: str) -> AsyncIterator[tuple[str, Replica]]:
    """(gateway URL, ingest replica with the live consumer), notifier behind the gateway."""
    platform = PlatformSettings().model_copy(update={"auth_jwt_secret": SecretStr(JWT_SECRET)})
    async with AsyncExitStack() as stack:
        ingest = await stack.enter_async_context(
            running_ingest(
                platform=platform,
                consumers="live",
                consumer_group_prefix=f"live{unique}",
                live_interval_seconds=0.5,
            )
        )
        notifier_settings = notifier_support.settings(platform).model_copy(
            update={"platform": platform}
        )
        notifier = await init_notifier(notifier_settings, bus=kafka_bus)
        notifier_http = await stack.enter_async_context(TestClient(TestServer(notifier)))
        ingest_url = str(ingest.http.make_url("")).rstrip("/")
        settings = GatewaySettings(
            routes_yaml=routes(ingest_url, f"http://127.0.0.1:{notifier[WS_SERVER].port}"),
            platform=platform,
        )
        gateway = await stack.enter_async_context(serving(settings, bus=kafka_bus))
        async with asyncio.timeout(30):
            while (await notifier_http.get("/readyz")).status != 200:
                await asyncio.sleep(0.1)
        yield gateway.url, ingest


async def answer(proc: asyncio.subprocess.Process) -> dict[str, Any]:
    assert proc.stdout is not None
    line: dict[str, Any] = json.loads(await proc.stdout.readline() or b"{}")
    return line


async def test_the_live_page_shows_the_campaign_by_push(
    edge: tuple[str, Replica], unique: str, tmp_path: Path
) -> None:
    if not (CHROMIUM.exists() and (BROWSER / "node_modules" / "playwright-core").exists()):
        pytest.fail("needs /usr/bin/chromium and tests/browser/node_modules: run `make test`")
    base, ingest = edge
    program = f"live{unique}"
    await ingest.put_program(program, advertiser="acme", name="Launch day")
    token = notifier_support.token("ann", advertisers=["acme"], channels=["campaign:acme.*"])
    config = {
        "url": f"{base}/t/live/{program}?token={token}",
        "userDataDir": str(tmp_path / "chromium"),
        "timeoutMs": 25_000,
    }
    node = shutil.which("node") or "node"
    proc = await asyncio.create_subprocess_exec(
        node,
        str(SCRIPT),
        json.dumps(config),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None
    try:
        async with asyncio.timeout(90):
            live = await answer(proc)
            assert live.get("phase") == "live", (live.get("status"), live)
            assert live["title"] == "Launch day"
            http = ingest.http
            for _ in range(6):
                assert (
                    await http.get(
                        "/t/p.gif", params={"program": program}, headers={"User-Agent": CHROME}
                    )
                ).status == 200
            for _ in range(2):
                assert (
                    await http.get(
                        "/t/p.gif", params={"program": program}, headers={"User-Agent": GOOGLEBOT}
                    )
                ).status == 200
            for _ in range(3):
                click = await http.get(
                    "/t/r",
                    params={"program": program, "to": "https://shop.example/"},
                    allow_redirects=False,
                )
                assert click.status == 302
            converted = await http.get(
                "/t/p.gif", params={"program": program, "type": "conversion", "order_id": "o1"}
            )
            assert converted.status == 200
            for _ in range(4):  # not events: conversions without their order id
                assert (
                    await http.get("/t/p.gif", params={"program": program, "type": "conversion"})
                ).status == 200
            proc.stdin.write(b"12 3 1 4\n")
            await proc.stdin.drain()
            done = await answer(proc)
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert done.get("phase") == "done", done
    assert done["errors"] == []
    assert done["shown"]["totals"] == "12 hits, 3 clicks, 1 conversions, 4 bad rows"
    channel = f"campaign:acme.{program}"
    pushed = [f for f in done["frames"] if f["type"] == "publication" and f["channel"] == channel]
    assert pushed
    assert {f["event"] for f in pushed} == {"tracking.live"}
    assert any(f["type"] == "subscribed" and f["channel"] == channel for f in done["frames"])
    # Read once, then nothing but the socket: the figures were never polled.
    reads = [r["url"] for r in done["requests"] if "/t/live/" in r["url"]]
    assert len([u for u in reads if u.endswith("/info")]) == 1
    assert len(reads) == 3, reads  # the page, its script, its channel
    assert len(done["sockets"]) == 1
    assert "token=" not in done["location"]  # moved out of the address bar
