"""Write to the zone log and, for commands, wait until this replica has applied the entry."""

from __future__ import annotations

from collections.abc import Callable

from services.waitingroom.room import Room
from services.waitingroom.state import Outcome
from shared.bus.base import Bus, Delivery
from shared.events.contracts import waitingroom as ops
from shared.http.problems import Problem

Clock = Callable[[], float]


class ZoneLog:
    def __init__(
        self, bus: Bus, room: Room, clock: Clock, *, source: str, apply_timeout: float = 10.0
    ) -> None:
        self.bus, self.room, self.clock = bus, room, clock
        self.source, self.apply_timeout = source, apply_timeout

    async def write(self, zone: str, op: ops.Op) -> Delivery:
        entry = ops.ZoneLogged(zone=zone, at=self.clock(), origin=self.room.origin, op=op)
        event = ops.ZONE_LOGGED.new(entry, source=self.source, subject=zone)
        return await self.bus.publish(ops.ZONE_LOGGED, event)

    async def submit(self, zone: str, op: ops.Op) -> tuple[Outcome, Delivery]:
        """Write and wait for the outcome; 503 problem when the log is not being followed."""
        delivery = await self.write(zone, op)
        outcome = await self.room.wait_applied(
            delivery.partition, delivery.offset, self.apply_timeout
        )
        if outcome is None:
            raise Problem(
                503,
                "the command is on the log but this replica has not applied it yet; retry",
                headers={"Retry-After": "1"},
            )
        return outcome, delivery
