"""Shared by the bus and consumer tests: a test event type, a recording handler, a fake sleep."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

from shared.bus.base import Record
from shared.events.catalog import Catalog, EventSpec
from shared.events.envelope import CloudEvent


class Parcel(BaseModel):
    parcel_id: str
    weight_grams: int


def parcel_spec(topic: str = "parcels") -> EventSpec[Parcel]:
    return EventSpec(
        type="test.parcel.weighed.v1",
        topic=topic,
        payload=Parcel,
        key=lambda parcel: parcel.parcel_id,
        key_doc="parcel_id",
        description="A parcel was weighed (tests only).",
    )


def catalog_with(*specs: EventSpec[Any]) -> Catalog:
    catalog = Catalog()
    for spec in specs:
        catalog.register(spec)
    return catalog


def parcel(spec: EventSpec[Parcel], n: int, *, key: str | None = None) -> CloudEvent[Parcel]:
    return spec.new(Parcel(parcel_id=key or f"p{n}", weight_grams=n), source="/tests")


class Recorder:
    """A handler that records what it handled and lets a test wait for a count."""

    def __init__(self) -> None:
        self.events: list[CloudEvent[Any]] = []
        self.records: list[Record] = []
        self._changed = asyncio.Condition()

    async def __call__(self, event: CloudEvent[Any], record: Record) -> None:
        async with self._changed:
            self.events.append(event)
            self.records.append(record)
            self._changed.notify_all()

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.events) >= count)

    def ids(self) -> list[str]:
        return [event.id for event in self.events]


class FakeSleep:
    """Records the delays the runtime asks for and returns at once (no wall-clock waiting)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)
