"""Live campaign figures: hits, clicks, conversions, bot share and bad rows per second, pushed
to the notifier's channel `campaign:<advertiser>.<program>` (the live page listens; no polling).

Consumer group `<prefix>-live` on `tracking.events` and `tracking.events.bad`. Both are keyed
by program, so one member sees all of a program's records and its figures are whole. Every
INGEST_LIVE_INTERVAL_SECONDS the counts of each program that had traffic are published as one
`tracking.live` notification, then reset. Counts are in memory: a crash loses at most one
interval of live figures (offsets are committed once a batch is counted), never an event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from shared.bus.base import Bus, Record
from shared.consumer.batch import Poison
from shared.events.contracts.ingest import BAD_ROW, TRACKING_EVENT, Program
from shared.events.contracts.notifier import NOTIFICATION_REQUESTED, NotificationRequested
from shared.events.proto.tracking_pb2 import TrackingEvent

log = logging.getLogger("ingest.live")
EVENT = "tracking.live"
ProgramLookup = Callable[[str], Awaitable[Program | None]]


def channel_of(advertiser: str, program: str) -> str:
    return f"campaign:{advertiser}.{program}"


@dataclass
class Counts:
    hits: int = 0
    clicks: int = 0
    conversions: int = 0
    bots: int = 0
    bad_rows: int = 0


class LiveFigures:
    def __init__(self, bus: Bus, programs: ProgramLookup, interval: float) -> None:
        self.bus, self.programs, self.interval = bus, programs, interval
        self.counts: dict[str, Counts] = {}
        self.advertisers: dict[str, str] = {}
        self.pushed = 0
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, records: Sequence[Record]) -> Sequence[Poison]:
        for record in records:
            if record.topic == TRACKING_EVENT.topic:
                event = TrackingEvent()
                try:
                    event.ParseFromString(record.value)
                except Exception:
                    log.debug("not counted: an undecodable record (the persister DLQs it)")
                    continue
                counts = self.counts.setdefault(event.program_id, Counts())
                self.advertisers[event.program_id] = event.advertiser_id
                counts.hits += 1
                counts.clicks += event.type == "click"
                counts.conversions += event.type == "conversion"
                counts.bots += event.bot
            elif record.topic == BAD_ROW.topic and record.key and record.key != b"-":
                program = record.key.decode("utf-8", "replace")
                self.counts.setdefault(program, Counts()).bad_rows += 1
        return ()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ingest-live")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.flush(time.time())
            except Exception:
                log.exception("could not push live figures")

    async def flush(self, now: float) -> int:
        counts, self.counts = self.counts, {}
        sends = []
        for program, c in counts.items():
            advertiser = self.advertisers.get(program)
            if advertiser is None:
                known = await self.programs(program)
                if known is None:
                    continue  # bad rows of a program that does not exist: no page to show them
                advertiser = self.advertisers[program] = known.advertiser
            per_second = 1 / self.interval
            data = {
                "program": program,
                "at": now,
                "interval_seconds": self.interval,
                "hits_per_second": c.hits * per_second,
                "clicks_per_second": c.clicks * per_second,
                "conversions_per_second": c.conversions * per_second,
                "bad_rows_per_second": c.bad_rows * per_second,
                "bot_share": c.bots / c.hits if c.hits else 0.0,
                "counts": {
                    "hits": c.hits,
                    "clicks": c.clicks,
                    "conversions": c.conversions,
                    "bots": c.bots,
                    "bad_rows": c.bad_rows,
                },
            }
            request = NotificationRequested(
                channel=channel_of(advertiser, program), event=EVENT, data=data
            )
            event = NOTIFICATION_REQUESTED.new(request, source="ingest")
            sends.append(self.bus.publish(NOTIFICATION_REQUESTED, event))
        if sends:
            await asyncio.gather(*sends)
            self.pushed += len(sends)
        return len(sends)
