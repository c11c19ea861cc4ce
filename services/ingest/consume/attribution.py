"""Attribution: conversions matched to the click that caused them (the seed's "matching" part,
which the reference architecture left out).

Consumer group `<prefix>-attribution` on `tracking.events`. A program's events arrive in order
on one partition, so this member is the only writer of that program's click records:
- a `click` is remembered by its id (`tracking_clicks`, `_id` = click id) and as the last click
  of its identifier (`tracking_last_clicks`, `_id` = "<program>|<identifier>");
- a `conversion` is matched by the click id it carries (the landing page got it in the
  program's `click_id_param`), else by the last click of its identifier; the click must be at
  most the program's `attribution_window_seconds` older. A match is published on
  `tracking.attributions` with the conversion's id as event id, so a redelivered batch
  republishes the same event (consumers dedupe by `ce_id`).
Reads and writes are by `_id` only; both collections expire after the longest window.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import IndexModel, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from services.ingest.consume.persister import decode_all
from shared.bus.base import Bus, Record
from shared.consumer.batch import Poison
from shared.events.contracts.ingest import ATTRIBUTED, Attribution, Program
from shared.events.envelope import CloudEvent
from shared.events.proto.tracking_pb2 import TrackingEvent
from shared.storeops import insert_many_new

CLICKS = "tracking_clicks"
LAST_CLICKS = "tracking_last_clicks"
MAX_WINDOW_SECONDS = 90 * 86400
ProgramLookup = Callable[[str], Awaitable[Program | None]]


def indexes() -> dict[str, list[IndexModel]]:
    ttl = [IndexModel([("at", 1)], expireAfterSeconds=MAX_WINDOW_SECONDS, name="at_ttl")]
    return {CLICKS: ttl, LAST_CLICKS: list(ttl)}


@dataclass(frozen=True, slots=True)
class Click:
    id: str
    program: str
    identifier: str
    at: datetime


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class Attributor:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], bus: Bus, programs: ProgramLookup):
        self.clicks, self.last = db[CLICKS], db[LAST_CLICKS]
        self.bus, self.programs = bus, programs
        self.attributed = 0

    async def __call__(self, records: Sequence[Record]) -> Sequence[Poison]:
        good, poison = decode_all(records)
        by_id: dict[str, Click] = {}
        last: dict[tuple[str, str], Click] = {}
        found: list[Attribution] = []
        for _, event in good:
            if event.type == "click":
                click = Click(
                    event.event_id, event.program_id, event.identifier, _at(event.received_at_ms)
                )
                by_id[click.id] = click
                if click.identifier:
                    last[(click.program, click.identifier)] = click
            elif event.type == "conversion":
                match = await self._match(event, by_id, last)
                if match is not None:
                    found.append(match)
        await self._remember(by_id, last)
        if found:
            await asyncio.gather(*(self._publish(a) for a in found))
            self.attributed += len(found)
        return poison

    async def _match(
        self, event: TrackingEvent, by_id: dict[str, Click], last: dict[tuple[str, str], Click]
    ) -> Attribution | None:
        click: Click | None = None
        matched_by = "click_id"
        if event.click_id:
            click = by_id.get(event.click_id) or await self._click(event.click_id)
        if (click is None or click.program != event.program_id) and event.identifier:
            matched_by = "identifier"
            key = (event.program_id, event.identifier)
            click = last.get(key) or await self._last_click(*key)
        if click is None or click.program != event.program_id:
            return None
        program = await self.programs(event.program_id)
        window = program.attribution_window_seconds if program else 7 * 86400
        converted = _at(event.received_at_ms)
        elapsed = (converted - click.at).total_seconds()
        if not 0 <= elapsed <= window:
            return None
        return Attribution(
            program=event.program_id,
            conversion_id=event.event_id,
            click_id=click.id,
            matched_by=matched_by,  # type: ignore[arg-type]
            identifier=event.identifier,
            clicked_at=click.at,
            converted_at=converted,
            seconds_to_convert=elapsed,
        )

    async def _click(self, click_id: str) -> Click | None:
        doc = await self.clicks.find_one({"_id": click_id})
        if doc is None:
            return None
        return Click(doc["_id"], doc["program"], doc.get("identifier", ""), doc["at"])

    async def _last_click(self, program: str, identifier: str) -> Click | None:
        doc = await self.last.find_one({"_id": f"{program}|{identifier}"})
        if doc is None:
            return None
        return Click(doc["click_id"], program, identifier, doc["at"])

    async def _remember(self, by_id: dict[str, Click], last: dict[tuple[str, str], Click]) -> None:
        if by_id:
            await insert_many_new(
                self.clicks,
                (
                    {"_id": c.id, "program": c.program, "identifier": c.identifier, "at": c.at}
                    for c in by_id.values()
                ),
            )
        if last:
            await self.last.bulk_write(
                [
                    UpdateOne(
                        {"_id": f"{program}|{identifier}"},
                        {"$set": {"click_id": c.id, "at": c.at}},
                        upsert=True,
                    )
                    for (program, identifier), c in last.items()
                ],
                ordered=False,
            )

    async def _publish(self, attribution: Attribution) -> None:
        event = CloudEvent[Attribution](
            id=attribution.conversion_id,
            source="ingest",
            type=ATTRIBUTED.type,
            subject=attribution.program,
            data=attribution,
        )
        await self.bus.publish(ATTRIBUTED, event)
