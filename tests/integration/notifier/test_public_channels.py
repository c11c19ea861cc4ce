"""Zone announcements are public: a visitor whose token has no `channels` claim subscribes to
`zone:<id>` (NOTIFIER_PUBLIC_CHANNELS, default `zone:*`) and hears what is published there,
including the waiting room's own pause/resume notes; publishing stays service-only."""

from __future__ import annotations

import asyncio

import pytest

from shared.bus.memory import MemoryBus
from tests.identity_support import anonymous
from tests.notifier_support import (
    client,
    recv_json,
    recv_until,
    running_notifier,
    send,
    token,
    user_headers,
)
from tests.waitingroom_support import ADMIN, running_waitingroom

pytestmark = pytest.mark.integration


async def test_a_user_without_a_channels_claim_hears_a_zone_channel() -> None:
    async with (
        running_notifier(MemoryBus()) as notifier,
        client(notifier.ws_url, "dana", via="subprotocol") as ws,
    ):
        await send(ws, type="subscribe", channel="zone:z1")
        subscribed = await recv_json(ws)
        assert (subscribed["type"], subscribed["channel"]) == ("subscribed", "zone:z1")
        await send(ws, type="subscribe", channel="team:z1")  # not public, no claim
        error = await recv_json(ws)
        assert (error["type"], error["code"], error["channel"]) == ("error", 4003, "team:z1")
        published = await notifier.publish("zone:z1", "waitingroom.paused", zone="z1")
        message = await recv_until(ws, "publication")
        assert (message["channel"], message["event"]) == ("zone:z1", "waitingroom.paused")
        assert message["data"] == {"zone": "z1"}
        assert message["offset"] == published["offset"]
        assert message["offset"] > subscribed["offset"]
        # Publishing is still for services only: a user's token is not the service token, and
        # a signed-in user is not a platform service.
        body = {"channel": "zone:z1", "event": "waitingroom.resumed", "data": {}}
        for headers in (
            {"Authorization": f"Bearer {token('dana')}", **anonymous("notifier")},
            user_headers("dana"),
        ):
            forged = await notifier.http.post("/notifier/publish", json=body, headers=headers)
            assert forged.status == 401
            assert (await forged.json())["title"] == "Unauthorized"


async def test_the_waiting_rooms_zone_notes_reach_a_visitors_socket() -> None:
    bus = MemoryBus()
    async with (
        running_notifier(bus) as notifier,
        running_waitingroom(bus) as room,
        client(notifier.ws_url, "ann") as ws,
    ):
        await room.create("show")
        async with asyncio.timeout(10):
            while room.zone("show").partition not in room.owned:
                await asyncio.sleep(0.01)
        await send(ws, type="subscribe", channel="zone:show")
        assert (await recv_json(ws))["type"] == "subscribed"
        for action, event in (("pause", "waitingroom.paused"), ("resume", "waitingroom.resumed")):
            await room.call("POST", f"/waitingroom/admin/zones/show/{action}", headers=ADMIN)
            message = await recv_until(ws, "publication")
            assert (message["channel"], message["event"]) == ("zone:show", event)
            assert message["data"] == {"zone": "show"}
