"""Child process of `test_kill_mid_batch`: consume a topic and apply each event's effect.

    python -m tests.integration.kill_worker --topic T --group G --db effects.sqlite
    python -m tests.integration.kill_worker --topic T --group G --store   # MONGODB_URL

With `--db`, the handler's effect (a row in `effects`) and its idempotency record (a row in
`processed`) are written in ONE SQLite transaction, so after a SIGKILL either both exist or
neither does; a redelivered event whose id is already in `processed` writes a row to
`duplicates` instead. With `--store`, the platform's way: the runtime's `IdempotencyGuard` in the
document store skips events already handled, and the effect is an insert keyed by the event id
(`shared.storeops.claim`), so an event handled but not yet marked when the process died has its
effect applied once; every handling is also logged in `deliveries`.
SIGTERM stops gracefully (finish the in-flight record, commit, leave the group).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sqlite3
from typing import Any

from shared.bus.base import Record
from shared.bus.kafka import KafkaBus
from shared.consumer import EventConsumer, IdempotencyGuard
from shared.events.envelope import CloudEvent
from shared.settings import PlatformSettings
from shared.store import open_store
from shared.storeops import claim
from tests.bus_support import catalog_with, parcel_spec

SCHEMA = """
CREATE TABLE IF NOT EXISTS effects (seq INTEGER PRIMARY KEY, event_id TEXT, pid INTEGER);
CREATE TABLE IF NOT EXISTS processed (event_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS duplicates (event_id TEXT, pid INTEGER);
"""


def open_db(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)  # explicit BEGIN/COMMIT below
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(SCHEMA)
    return db


def apply_once(db: sqlite3.Connection, event_id: str) -> bool:
    """Write the effect and the processed mark atomically; False for a redelivery."""
    db.execute("BEGIN IMMEDIATE")
    try:
        if db.execute("SELECT 1 FROM processed WHERE event_id = ?", (event_id,)).fetchone():
            db.execute("INSERT INTO duplicates VALUES (?, ?)", (event_id, os.getpid()))
            fresh = False
        else:
            db.execute("INSERT INTO effects (event_id, pid) VALUES (?, ?)", (event_id, os.getpid()))
            db.execute("INSERT INTO processed VALUES (?)", (event_id,))
            fresh = True
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return fresh


async def run(args: argparse.Namespace) -> None:
    spec = parcel_spec(args.topic)
    db = open_db(args.db) if args.db else None
    store = await open_store(PlatformSettings(), service="kill-worker") if args.store else None
    guard = IdempotencyGuard.for_store(store, "processed", 3600) if store else None

    async def handler(event: CloudEvent[Any], record: Record) -> None:
        if db is not None:
            apply_once(db, event.id)
        if store is not None:
            await store.db["deliveries"].insert_one({"event_id": event.id, "pid": os.getpid()})
            await claim(store.db["effects"], event.id, {"pid": os.getpid()})
        await asyncio.sleep(args.work_seconds)  # a slow handler: the kill lands mid-batch

    bus = KafkaBus(
        PlatformSettings(),
        client_id="kill-worker",
        consumer_options={"session_timeout_ms": args.session_timeout_ms},
    )
    consumer = EventConsumer(
        bus,
        topics=[spec.topic],
        group_id=args.group,
        handler=handler,
        catalog=catalog_with(spec),
        guard=guard,
        batch_size=500,
    )
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    await bus.start()
    await consumer.start()
    try:
        await stopping.wait()
    finally:
        await consumer.stop()
        await bus.stop()
        if db is not None:
            db.close()
        if store is not None:
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--db")
    parser.add_argument("--store", action="store_true")
    parser.add_argument("--work-seconds", type=float, default=0.02)
    parser.add_argument("--session-timeout-ms", type=int, default=3000)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
