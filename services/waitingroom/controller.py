"""The admission controller: runs on the owner of a zone's partition and writes decisions.

Each tick, for every zone in an owned partition whose log this replica has caught up with:
open (shuffling a lottery pre-queue once), close at closes_at, expire lapsed places and
sessions, then admit at admit_per_minute (a token bucket with one second of burst) while
active < max_active and completed + active < capacity, in line order (tiers, lottery, FIFO).
Each decision is written and applied before the next one, so decisions build on each other;
the state machine re-checks them anyway (see state.py).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import secrets
from collections.abc import Awaitable, Callable

from opentelemetry import context as otel_context
from opentelemetry import trace

from services.waitingroom.follower import Follower
from services.waitingroom.ownership import Ownership
from services.waitingroom.places import Place
from services.waitingroom.positions import position_notes
from services.waitingroom.state import Note, ZoneState
from services.waitingroom.tracing import decide_span
from services.waitingroom.zonelog import Clock, ZoneLog
from shared.events.contracts import waitingroom as ops

Ticker = Callable[[], Awaitable[None]]
NotesSink = Callable[[ZoneState, list[Note]], None]


class Controller:
    def __init__(
        self,
        zlog: ZoneLog,
        follower: Follower,
        ownership: Ownership,
        clock: Clock,
        *,
        notes: NotesSink,
        expiring_soon: float = 60.0,
        position_budget: int | None = None,
    ) -> None:
        self.zlog, self.follower, self.ownership, self.clock = zlog, follower, ownership, clock
        self.notes, self.expiring_soon = notes, expiring_soon
        self.position_budget = position_budget  # position notes per tick and zone
        self.ready: set[int] = set()  # owned partitions whose log we have caught up with
        self._credit: dict[str, tuple[float, float]] = {}  # zone -> (credit, as of)
        self._warned: dict[str, set[str]] = {}  # zone -> jtis told "expiring soon"

    async def run(self, ticker: Ticker) -> None:
        while True:
            await ticker()
            await self.tick()

    async def tick(self) -> None:
        owned = set(self.ownership.owned)
        self.ready &= owned
        fresh = owned - self.ready
        if fresh and await self.follower.catch_up(fresh):
            self.ready |= fresh  # a new owner decides only on the whole log
        for zone in list(self.zlog.room.zones.values()):
            if zone.partition in self.ready and self.ownership.owns(zone.partition):
                await self._zone(zone)

    async def _zone(self, zone: ZoneState) -> None:
        now, config, zid = self.clock(), zone.config, zone.config.id
        if not zone.opened and config.opens is not None and now >= config.opens:
            await self._decide(zid, ops.Open(seed=secrets.randbits(62)))
        if not zone.closed and config.closes is not None and now >= config.closes:
            await self._decide(zid, ops.Control(action="close"))
        lapsed = [jti for jti, p in zone.sessions.items() if (p.expires_at or 0) <= now]
        if lapsed:
            await self._decide(zid, ops.ExpireSessions(jtis=lapsed))
        self._warn_expiring(zone, now)
        stale = [
            (p.user, p.last_seen) for p in zone.line if p.last_seen + config.position_ttl <= now
        ]
        if stale:
            await self._decide(zid, ops.ExpirePlaces(places=stale))
        admitted = await self._admit(zone, now)
        if admitted or stale or lapsed:
            self.notes(zone, position_notes(zone, self.position_budget))

    async def _admit(self, zone: ZoneState, now: float) -> int:
        config = zone.config
        per_second = config.admit_per_minute / 60.0
        burst = max(1.0, per_second) if per_second > 0 else 0.0  # one second's worth
        credit, since = self._credit.get(config.id, (burst, now))  # a bucket starts full
        if zone.status != "open":
            self._credit[config.id] = (0.0, now)  # no credit builds up while paused or closed
            return 0
        credit = min(credit + (now - since) * per_second, burst)
        room = min(config.max_active - zone.active, config.capacity - zone.completed - zone.active)
        wanted = min(math.floor(credit) + zone.by_hand, max(0, room), len(zone.line))
        if wanted <= 0:
            self._credit[config.id] = (credit, now)
            return 0
        live = (p for p in zone.line if p.last_seen + config.position_ttl > now)
        expires = now + config.session_ttl
        chosen = list(itertools.islice(live, wanted))
        grants = [
            ops.Grant(user=p.user, jti=secrets.token_urlsafe(18), expires_at=expires)
            for p in chosen
        ]
        by_hand = min(zone.by_hand, len(grants))
        admit = ops.Admit(grants=grants, by_hand=by_hand)
        outcome = await self._decide(config.id, admit, chosen)
        self._credit[config.id] = (credit - max(0, outcome - by_hand), now)
        return outcome

    def _warn_expiring(self, zone: ZoneState, now: float) -> None:
        warned = self._warned.setdefault(zone.config.id, set())
        warned &= set(zone.sessions)  # forget tokens that are gone
        soon = [
            (jti, p)
            for jti, p in zone.sessions.items()
            if jti not in warned and (p.expires_at or 0) - now <= self.expiring_soon
        ]
        warned.update(jti for jti, _ in soon)
        if soon:
            notes = [Note(p.user, "expiring_soon", {"expires_at": p.expires_at}) for _, p in soon]
            self.notes(zone, notes)

    async def _decide(self, zone: str, op: ops.Op, admitted: list[Place] | None = None) -> int:
        """Write a decision under its own root span (the only trace a tick starts), linked to
        the sampled joins it admits."""
        span = decide_span(zone, op.kind, admitted)
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            outcome, _ = await self.zlog.submit(zone, op)
        finally:
            otel_context.detach(token)
            span.end()
        return outcome.count


async def sleeper(seconds: float) -> None:
    await asyncio.sleep(seconds)
