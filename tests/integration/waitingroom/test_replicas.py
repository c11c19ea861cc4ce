"""Two waiting room replicas on a real broker; the partition owner is stopped mid-admission.

The zone log decides: no overselling, no lost or duplicated place, and the survivor takes over
admission after the rebalance. Admission ticks are driven by hand with a shared manual clock.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest

from services.waitingroom.keys import CONTEXT
from shared.settings import PlatformSettings
from tests.waitingroom_support import ManualClock, Replica, running_waitingroom

pytestmark = pytest.mark.integration


async def _until(predicate: object, within: float = 30.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.05)


def _check(replica: Replica, zone: str, users: list[str], capacity: int, max_active: int) -> None:
    state = replica.zone(zone)
    assert state.completed + state.active <= capacity
    assert state.active <= max_active
    assert sorted(state.places) == sorted(users), "every join has exactly one place"
    numbers = [p.number for p in state.places.values()]
    assert len(set(numbers)) == len(numbers)
    jtis = [p.jti for p in state.places.values() if p.jti]
    assert len(set(jtis)) == len(jtis)


async def test_owner_stopped_mid_admission_no_oversell_no_lost_place(
    kafka_env: str, unique: str
) -> None:
    platform = PlatformSettings()
    clock = ManualClock()
    zone, capacity, max_active = f"z{unique}", 12, 4
    users = [f"v{i}" for i in range(30)]
    async with AsyncExitStack() as a_stack, AsyncExitStack() as b_stack:
        a = await a_stack.enter_async_context(running_waitingroom("kafka", platform, clock))
        b = await b_stack.enter_async_context(running_waitingroom("kafka", platform, clock))
        partitions = platform.kafka_topic_partitions
        await _until(lambda: len(a.owned) + len(b.owned) == partitions and a.owned and b.owned)
        await a.create(zone, capacity=capacity, max_active=max_active, admit_per_minute=120)
        await _until(lambda: zone in b.app[CONTEXT].room.zones)
        joined = await asyncio.gather(
            *(replica.join(u, zone) for replica, u in zip([a, b] * 15, users, strict=True))
        )
        positions = sorted(j["position"] for j in joined)
        assert positions == list(range(1, 31)), "unique, gap-free positions across replicas"
        partition = a.zone(zone).partition
        owner, survivor = (a, b) if partition in a.owned else (b, a)
        owner_stack = a_stack if owner is a else b_stack

        async def round_(replicas: list[Replica]) -> None:
            clock.now += 1.0
            for replica in replicas:
                await replica.tick()

        for _ in range(3):
            await round_([a, b])
        admitted = [u for u in users if owner.zone(zone).places[u].state == "admitted"]
        assert admitted, "the owner admits"
        first = admitted[0]
        token = (await survivor.status(first, zone))["access_token"]
        path = f"/waitingroom/zones/{zone}/complete"
        await survivor.call("POST", path, first, json={"token": token})

        # Stop the owner while a tick is in flight (its decision may or may not be on the log).
        clock.now += 1.0
        in_flight = asyncio.create_task(owner.tick())
        await asyncio.sleep(0)
        await owner_stack.aclose()
        await asyncio.gather(in_flight, return_exceptions=True)

        await _until(lambda: partition in survivor.owned)
        for _ in range(40):
            await round_([survivor])
            state = survivor.zone(zone)
            for place in list(state.sessions.values()):
                token = (await survivor.status(place.user, zone))["access_token"]
                await survivor.call("POST", path, place.user, json={"token": token})
            _check(survivor, zone, users, capacity, max_active)
            if state.completed == capacity:
                break
        state = survivor.zone(zone)
        assert state.completed == capacity, "the survivor kept admitting to the end"
        assert (await survivor.status(users[-1], zone))["state"] in ("sold_out", "completed")
