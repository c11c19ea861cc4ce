"""The WebSocket endpoint on one replica over an in-memory bus: auth, channels, delivery,
recovery, limits, slow consumers, shutdown."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from services.notifier.keys import CONTEXT
from shared.bus.memory import MemoryBus
from tests.notifier_support import (
    Replica,
    client,
    open_socket,
    recv_json,
    recv_until,
    running_notifier,
    send,
    token,
)

pytestmark = pytest.mark.unit


@pytest.fixture
async def replica() -> AsyncIterator[Replica]:
    # No public channels: `zone:*` is granted only by the `channels` claim here (the public
    # patterns are tested in test_channels.py).
    async with running_notifier(
        MemoryBus(),
        auth_timeout_seconds=0.3,
        max_connections_per_user=2,
        max_subscriptions=3,
        public_channels="",
    ) as running:
        yield running


async def closed_with(ws: object, within: float = 5.0) -> int | None:
    async with asyncio.timeout(within):
        try:
            while True:
                await ws.recv()  # type: ignore[attr-defined]
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd is not None else None


@pytest.mark.parametrize(
    ("credential", "code"),
    [
        (None, 4008),
        ("not-a-jwt", 4001),
        (token("alice", ttl=-120), 4002),
        ("ping", 4001),
    ],
    ids=["none", "bad", "expired", "not-auth-first"],
)
async def test_connections_without_a_valid_token_are_refused(
    replica: Replica, credential: str | None, code: int
) -> None:
    async with open_socket(replica.ws_url) as ws:
        if credential == "ping":
            await send(ws, type="ping")
        elif credential is not None:
            await send(ws, type="auth", token=credential)
        assert await closed_with(ws) == code


async def test_a_bad_subprotocol_token_is_refused(replica: Replica) -> None:
    async with open_socket(replica.ws_url, subprotocols=["surge.v1", "bearer.x.y.z"]) as ws:
        assert ws.subprotocol == "surge.v1"
        assert await closed_with(ws) == 4001


async def test_a_token_signed_with_another_key_is_refused(replica: Replica) -> None:
    from shared.security import issue_hs256

    forged = issue_hs256({"sub": "alice"}, "another-secret-that-is-also-long-enough-000")
    async with open_socket(replica.ws_url) as ws:
        await send(ws, type="auth", token=forged)
        assert await closed_with(ws) == 4001


async def test_a_publication_reaches_the_users_own_channel(replica: Replica) -> None:
    async with client(replica.ws_url, "alice", via="subprotocol") as ws:
        await replica.publish("user:alice", "hello", n=1)
        message = await recv_until(ws, "publication")
        assert message["channel"] == "user:alice"
        assert message["event"] == "hello"
        assert message["data"] == {"n": 1}
        assert message["epoch"].startswith("1-")
        assert isinstance(message["offset"], int)


async def test_other_users_and_unauthorised_channels_are_refused(replica: Replica) -> None:
    async with client(replica.ws_url, "alice", channels=["zone:eu-*"]) as ws:
        for channel in ("user:bob", "zone:us-1"):
            await send(ws, type="subscribe", channel=channel)
            error = await recv_json(ws)
            assert (error["type"], error["code"], error["channel"]) == ("error", 4003, channel)
        await send(ws, type="subscribe", channel="zone:eu-1")
        assert (await recv_json(ws))["type"] == "subscribed"
        await send(ws, type="subscribe", channel="broadcast")
        assert (await recv_json(ws))["type"] == "subscribed"
        await send(ws, type="subscribe", channel="zone:eu-2")  # 4th: over the limit of 3
        assert (await recv_json(ws))["code"] == 4013
        await send(ws, type="subscribe", channel="Bad Channel!")
        assert (await recv_json(ws))["code"] == 4004
        await send(ws, type="ping", id=7)
        assert await recv_json(ws) == {"type": "pong", "id": 7}
        await replica.publish("zone:eu-1", "open")
        assert (await recv_until(ws, "publication"))["channel"] == "zone:eu-1"


async def test_an_unknown_message_closes_with_a_protocol_error(replica: Replica) -> None:
    async with client(replica.ws_url, "alice") as ws:
        await ws.send("{not json")
        assert (await recv_json(ws))["code"] == 4000
        assert await closed_with(ws) == 4000


async def missed_while_away(
    replica: Replica, witness: ClientConnection, count: int
) -> dict[str, Any]:
    """Publish to alice while one of her clients is away; the witness (another of her
    clients) proves this replica has read them. Returns the last one the away client saw."""
    async with client(replica.ws_url, "alice") as away:
        await replica.publish("user:alice", n=0)
        last_seen = await recv_until(away, "publication")
        await recv_until(witness, "publication")
    for n in range(1, count + 1):
        await replica.publish("user:alice", n=n)
        await replica.publish("user:bob", n=-n)
        await recv_until(witness, "publication")
    return last_seen


async def test_recovery_sends_exactly_what_was_missed_in_order(replica: Replica) -> None:
    async with client(replica.ws_url, "alice") as witness:
        last_seen = await missed_while_away(replica, witness, 3)
        async with open_socket(replica.ws_url) as ws:
            position = {"offset": last_seen["offset"], "epoch": last_seen["epoch"]}
            await send(ws, type="auth", token=token("alice"), recover=position)
            assert (await recv_json(ws))["type"] == "welcome"
            subscribed = await recv_json(ws)
            replayed = [await recv_json(ws) for _ in range(3)]
            done = await recv_json(ws)
    assert [m["data"]["n"] for m in replayed] == [1, 2, 3]
    assert [m["offset"] for m in replayed] == sorted(m["offset"] for m in replayed)
    assert done["type"] == "recovered"
    assert done["missed"] == 3
    assert subscribed["offset"] == replayed[-1]["offset"]


async def test_recovery_without_history_says_reload() -> None:
    async with running_notifier(MemoryBus(), history_size=2) as replica:
        async with client(replica.ws_url, "alice") as witness:
            last_seen = await missed_while_away(replica, witness, 3)
            async with open_socket(replica.ws_url) as ws:
                position = {"offset": last_seen["offset"], "epoch": last_seen["epoch"]}
                await send(ws, type="auth", token=token("alice"), recover=position)
                await recv_until(ws, "subscribed")
                failed = await recv_json(ws)
                assert failed["type"] == "recover_failed"
                assert failed["message"] == "cannot recover, reload"
                assert failed["reason"] == "history_gap"
            async with client(replica.ws_url, "carol", via="subprotocol", channels="zone:*") as ws:
                recover = {"offset": 0, "epoch": "another-epoch"}
                await send(ws, type="subscribe", channel="zone:a", recover=recover)
                assert (await recv_json(ws))["type"] == "subscribed"
                failed = await recv_json(ws)
                assert (failed["type"], failed["reason"]) == ("recover_failed", "epoch_changed")
        metrics = await (await replica.http.get("/metrics")).text()
        assert 'notifier_recoveries_total{outcome="miss"} 2.0' in metrics


async def test_a_client_that_stops_reading_is_disconnected_with_4009() -> None:
    async with running_notifier(MemoryBus(), send_queue_bytes=64 * 1024) as replica:
        async with client(replica.ws_url, "slow") as ws, client(replica.ws_url, "fast") as fast:
            ws.transport.pause_reading()  # a client that never reads
            hub = replica.app[CONTEXT].hub
            (session,) = [s for s in hub.sessions if s.user == "slow"]
            blob = "x" * 32 * 1024
            for n in range(1000):
                await replica.publish("user:slow", n=n, blob=blob)
                await replica.publish("user:fast", n=n)
                await recv_until(fast, "publication")
                if session.closing:
                    break
            assert session.closing, "the slow consumer was never cut off"
            assert session.queued() < 10 * 1024 * 1024
            ws.transport.resume_reading()
            assert await closed_with(ws, within=10) == 4009
        metrics = await (await replica.http.get("/metrics")).text()
        assert "notifier_slow_consumer_disconnects_total 1.0" in metrics


async def test_connection_limits_per_user_and_per_ip(replica: Replica) -> None:
    async with (
        client(replica.ws_url, "alice"),
        client(replica.ws_url, "alice"),
        open_socket(replica.ws_url) as third,
    ):
        await send(third, type="auth", token=token("alice"))
        assert await closed_with(third) == 4029
    async with (
        running_notifier(MemoryBus(), max_connections_per_ip=1) as small,
        client(small.ws_url, "alice"),
        open_socket(small.ws_url) as second,
    ):
        assert await closed_with(second) == 4029


async def test_a_token_expiring_while_connected_closes_with_4002(replica: Replica) -> None:
    async with open_socket(replica.ws_url) as ws:
        await send(ws, type="auth", token=token("alice", ttl=1))
        assert (await recv_json(ws))["type"] == "welcome"
        assert await closed_with(ws, within=5) == 4002


async def test_shutdown_closes_every_socket_with_1001() -> None:
    bus = MemoryBus()
    async with running_notifier(bus) as replica, client(replica.ws_url, "alice") as ws:
        await replica.http.close()  # runs the app's cleanup: the WebSocket server stops
        assert await closed_with(ws) == 1001


async def test_the_idle_timeout_closes_silent_clients() -> None:
    async with (
        running_notifier(MemoryBus(), idle_timeout_seconds=0.4) as replica,
        client(replica.ws_url, "alice") as ws,
    ):
        assert await closed_with(ws) == 4010


async def test_messages_over_the_size_limit_close_with_1009() -> None:
    async with (
        running_notifier(MemoryBus(), max_message_bytes=1024) as replica,
        client(replica.ws_url, "alice") as ws,
    ):
        await ws.send(json.dumps({"type": "ping", "id": "x" * 4096}))
        assert await closed_with(ws) == 1009
