"""The persister: `tracking.events` into MongoDB, in bulk, exactly once per event.

Consumer group `<INGEST_CONSUMER_GROUP_PREFIX>-persister`. Each fetched batch (up to
INGEST_PERSIST_BATCH_SIZE records) becomes one unordered bulk insert with `_id` = event id
(`shared.storeops.insert_many_new`): a batch redelivered after a crash inserts only what is
missing. Offsets are committed after the write (`shared.consumer.batch`); a record that is not
a tracking event goes to `tracking.events.dlq`.

Storage (`tracking_events`): one document per event, parameters as `[{k, v}]` (names may hold
`.` or `$`), a compound index (program, at) to read a program's recent events by time, and a
TTL index on `at` (INGEST_RETENTION_SECONDS; on FerretDB the store sweeps instead). Not a
MongoDB time-series collection: those keep no unique `_id` index, so a redelivered batch would
be stored twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from shared.bus.base import Record
from shared.bus.codec import DecodeError
from shared.consumer.batch import Poison
from shared.events.contracts.ingest import TRACKING_EVENT
from shared.events.proto.tracking_pb2 import Channel, TrackingEvent
from shared.storeops import insert_many_new

COLLECTION = "tracking_events"
CHANNEL_NAMES = {
    Channel.CHANNEL_PIXEL: "pixel",
    Channel.CHANNEL_REDIRECT: "redirect",
    Channel.CHANNEL_BATCH: "batch",
}


def indexes(retention_seconds: int) -> list[IndexModel]:
    return [
        IndexModel([("program", 1), ("at", -1)], name="program_at"),
        IndexModel([("at", 1)], expireAfterSeconds=retention_seconds, name="at_ttl"),
    ]


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def document(event: TrackingEvent) -> dict[str, Any]:
    agent = event.agent
    return {
        "_id": event.event_id,
        "program": event.program_id,
        "advertiser": event.advertiser_id,
        "type": event.type,
        "channel": CHANNEL_NAMES.get(event.channel, "unknown"),
        "at": _time(event.received_at_ms),
        "client_at": _time(event.client_time_ms) if event.client_time_ms else None,
        "client_id": event.client_event_id or None,
        "params": [{"k": p.k, "v": p.v} for p in event.params],
        "user_agent": event.user_agent,
        "agent": {
            "browser": agent.browser,
            "browser_version": agent.browser_version,
            "os": agent.os,
            "os_version": agent.os_version,
            "device": agent.device,
        },
        "bot": event.bot,
        "ip": event.ip,
        "ip_truncated": event.ip_truncated,
        "identifier": event.identifier or None,
        "opted_out": event.opted_out,
        "click_id": event.click_id or None,
        "redirect_to": event.redirect_to or None,
        "referrer": event.referrer or None,
        "sender": event.sender,
    }


def decode_all(
    records: Sequence[Record],
) -> tuple[list[tuple[Record, TrackingEvent]], list[Poison]]:
    good: list[tuple[Record, TrackingEvent]] = []
    poison: list[Poison] = []
    for record in records:
        try:
            event = TRACKING_EVENT.decode(record)
        except DecodeError as exc:
            poison.append((record, exc))
            continue
        if not event.event_id or not event.program_id:
            poison.append((record, DecodeError("a tracking event without id or program")))
            continue
        good.append((record, event))
    return good, poison


class Persister:
    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection
        self.inserted = 0
        self.duplicates = 0

    async def __call__(self, records: Sequence[Record]) -> Sequence[Poison]:
        good, poison = decode_all(records)
        docs = [document(event) for _, event in good]
        fresh = await insert_many_new(self.collection, docs)
        self.inserted += fresh
        self.duplicates += len(docs) - fresh
        return poison
