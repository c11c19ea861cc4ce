"""Typed keys and the context the waiting room's handlers share."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from services.waitingroom.room import Room
from services.waitingroom.settings import WaitingroomSettings
from services.waitingroom.state import ZoneState
from services.waitingroom.tokens import Tokens
from services.waitingroom.zonelog import Clock, ZoneLog
from shared.http.problems import Problem


@dataclass
class Context:
    settings: WaitingroomSettings
    room: Room
    zlog: ZoneLog
    tokens: Tokens
    clock: Clock

    def zone(self, zone_id: str) -> ZoneState:
        zone = self.room.zones.get(zone_id)
        if zone is None:
            raise Problem(404, f"no zone {zone_id!r}", type_=PROBLEMS + "no-zone")
        return zone


PROBLEMS = "https://surge.dev/problems/waitingroom-"
WAITINGROOM_SETTINGS = web.AppKey("waitingroom_settings", WaitingroomSettings)
CONTEXT = web.AppKey("waitingroom_context", Context)
