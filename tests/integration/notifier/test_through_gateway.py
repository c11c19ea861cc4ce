"""A browser's path: the gateway's /ws and /notifier/ routes in front of a notifier (both in
this process), subprotocol authentication proxied through, a publication pushed back."""

from __future__ import annotations

import aiohttp
import pytest
from pydantic import SecretStr
from websockets.asyncio.client import connect

from services.gateway.settings import GatewaySettings
from shared.bus.memory import MemoryBus
from shared.settings import PlatformSettings
from tests.gateway_support import PlaneClient, serving
from tests.notifier_support import (
    JWT_SECRET,
    recv_json,
    recv_until,
    running_notifier,
    token,
)

pytestmark = pytest.mark.integration


def routes(http_url: str, ws_url: str) -> str:
    return f"""
upstreams:
  notifier: {{url: "{http_url}"}}
  notifier-ws: {{url: "{ws_url}", max_connections: 1000, audience: notifier}}
routes:
  - {{id: notifier-ws, prefix: /ws, upstream: notifier-ws, websocket: true}}
  - {{id: notifier, prefix: /notifier/, upstream: notifier}}
"""


async def test_a_client_behind_the_gateway_gets_its_publication() -> None:
    async with running_notifier(MemoryBus()) as notifier:
        http_url = str(notifier.http.make_url("")).rstrip("/")
        ws_url = notifier.ws_url.replace("ws://", "http://").removesuffix("/ws")
        platform = PlatformSettings(auth_jwt_secret=SecretStr(JWT_SECRET))
        settings = GatewaySettings(routes_yaml=routes(http_url, ws_url), platform=platform)
        async with (
            serving(settings) as served,
            aiohttp.ClientSession(base_url=served.url) as session,
        ):
            edge = PlaneClient(session, "127.0.0.1", served.port)
            url = served.url.replace("http://", "ws://") + "/ws"
            offered = ["surge.v1", f"bearer.{token('dana')}"]
            async with connect(url, subprotocols=offered) as ws:  # type: ignore[arg-type]
                assert ws.subprotocol == "surge.v1"
                welcome = await recv_json(ws)
                assert (welcome["type"], welcome["user"]) == ("welcome", "dana")
                # Services publish on the notifier's own port, inside the network.
                await notifier.publish("user:dana", "admitted", zone="z1")
                message = await recv_until(ws, "publication")
                assert (message["event"], message["data"]) == ("admitted", {"zone": "z1"})
            # The REST side of poll-to-push goes through the gateway with the user's JWT.
            headers = {"Authorization": f"Bearer {token('dana')}"}
            job = await edge.post("/notifier/jobs", json={"params": {"text": "a"}}, headers=headers)
            assert job.status == 202, await job.text()
            status = await edge.get((await job.json())["status_url"], headers=headers)
            assert status.status == 200
