"""Two notifier replicas in this process on one real broker (Kafka): a publication entering
through one reaches a client on the other; presence is seen across them; a graceful shutdown
closes sockets with 1001 and the client recovers on the other replica with nothing lost."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from shared.settings import PlatformSettings
from tests.notifier_support import (
    Replica,
    client,
    open_socket,
    recv_json,
    recv_until,
    running_notifier,
    send,
    service_headers,
    token,
)

pytestmark = pytest.mark.integration


async def presence_of(replica: Replica, user: str, online: bool) -> None:
    async with asyncio.timeout(10):
        while True:
            response = await replica.http.get(
                f"/notifier/presence/{user}", headers=service_headers()
            )
            if (await response.json())["online"] is online:
                return
            await asyncio.sleep(0.05)


async def drain(ws: ClientConnection) -> None:
    async with asyncio.timeout(15):
        while True:
            await ws.recv()


async def test_two_replicas_deliver_across_and_recover_after_a_graceful_stop(
    kafka_env: str, unique: str
) -> None:
    platform = PlatformSettings()
    groups = f"notifier-{unique}"  # its own consumer groups on the shared broker
    user = f"user-{unique}"
    async with AsyncExitStack() as stack:
        one, two = await asyncio.gather(
            stack.enter_async_context(
                running_notifier("kafka", platform, replica_id="one", consumer_group_prefix=groups)
            ),
            stack.enter_async_context(
                running_notifier("kafka", platform, replica_id="two", consumer_group_prefix=groups)
            ),
        )
        async with client(two.ws_url, user) as ws:
            await presence_of(one, user, True)
            await one.publish(f"user:{user}", "hello", n=0)
            first = await recv_until(ws, "publication", within=20)
            assert first["data"] == {"n": 0}
            # Graceful stop of replica two: the socket closes with 1001...
            stopping = asyncio.create_task(two.http.close())
            with pytest.raises(ConnectionClosed) as closed:
                await drain(ws)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1001
        await stopping
        # ...what is published meanwhile is kept by replica one's history...
        for n in (1, 2, 3):
            await one.publish(f"user:{user}", "hello", n=n)
        # ...and the client reconnects there and recovers it, in order.
        async with open_socket(one.ws_url) as again:
            position = {"offset": first["offset"], "epoch": first["epoch"]}
            await send(again, type="auth", token=token(user), recover=position)
            await recv_until(again, "subscribed")
            got: list[int] = []
            async with asyncio.timeout(20):
                while len(got) < 3:
                    message = await recv_json(again, within=20)
                    if message["type"] == "publication":
                        got.append(message["data"]["n"])
                    elif message["type"] == "recover_failed":
                        pytest.fail(f"recovery failed: {message}")
            assert got == [1, 2, 3]
        await presence_of(one, user, False)
