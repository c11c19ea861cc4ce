"""Every zone this replica knows, built by applying the zone log in order.

`apply` is synchronous (no await between reading a record and changing state), so a status
query always sees a state that is exactly "the log up to offset N" for each partition. A
handler that published a command waits with `wait_applied` for its outcome, which is kept only
for events this replica wrote (`origin`), so the map stays small.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

from opentelemetry.trace import SpanContext

from services.waitingroom.state import Note, Outcome, ZoneState
from services.waitingroom.zone import ZoneConfig
from shared.events.contracts import waitingroom as ops

log = logging.getLogger("waitingroom.room")
NoteSink = Callable[[ZoneState, list[Note]], None]


class Room:
    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.zones: dict[str, ZoneState] = {}
        self.applied: dict[int, int] = {}  # partition -> next offset to apply
        self.outcomes: dict[tuple[int, int], Outcome] = {}
        self.on_notes: NoteSink | None = None
        self._advanced = asyncio.Event()

    def apply(
        self,
        event: ops.ZoneLogged,
        partition: int,
        offset: int,
        cause: SpanContext | None = None,
    ) -> Outcome:
        """Apply one zone log record; `cause` is the trace context the record carried."""
        if offset < self.applied.get(partition, 0):
            return Outcome(False, "already_applied")  # a reader re-delivered: state is ahead
        self.applied[partition] = offset + 1
        before = self.zones.get(event.zone)
        if before is not None:
            before.cause = cause
        outcome = self._apply(event, partition, offset)
        if event.origin == self.origin:
            self.outcomes[(partition, offset)] = outcome
        zone = self.zones.get(event.zone)
        if zone is not None:
            zone.cause = None
        if zone is not None and zone.notes:
            notes, zone.notes = zone.notes, []
            if cause is not None:  # what this record caused continues its trace
                notes = [n if n.cause is not None else replace(n, cause=cause) for n in notes]
            if self.on_notes is not None:
                self.on_notes(zone, notes)
        return outcome

    def skip(self, partition: int, offset: int) -> None:
        """An undecodable record still moves the position (nobody waits on it forever)."""
        self.applied[partition] = max(self.applied.get(partition, 0), offset + 1)

    def advanced(self) -> None:
        self._advanced.set()
        self._advanced = asyncio.Event()

    def _apply(self, event: ops.ZoneLogged, partition: int, offset: int) -> Outcome:
        zone = self.zones.get(event.zone)
        op = event.op
        if zone is None:
            if not isinstance(op, ops.Configure):
                return Outcome(False, "no_zone")
            try:
                config = ZoneConfig.model_validate(op.config)
            except ValueError:
                return Outcome(False, "invalid_config")
            self.zones[event.zone] = ZoneState(config, partition, event.at)
            return Outcome(True, "created")
        try:
            return zone.apply(op, offset, event.at)
        except ValueError as exc:  # e.g. an invalid configuration in the log
            log.warning("zone %s: %s at %d refused: %s", event.zone, op.kind, offset, exc)
            return Outcome(False, "invalid")

    async def wait_applied(self, partition: int, offset: int, within: float) -> Outcome | None:
        """The outcome of our own event at (partition, offset) once applied; None on timeout."""
        try:
            async with asyncio.timeout(within):
                while self.applied.get(partition, 0) <= offset:
                    await self._advanced.wait()
        except TimeoutError:
            return None
        return self.outcomes.pop((partition, offset), Outcome(False, "not_ours"))

    async def wait_position(self, partition: int, offset: int, within: float) -> bool:
        """True once everything before `offset` in `partition` is applied."""
        try:
            async with asyncio.timeout(within):
                while self.applied.get(partition, 0) < offset:
                    await self._advanced.wait()
        except TimeoutError:
            return False
        return True
