"""A consumer SIGKILLed mid-batch and restarted loses nothing and writes nothing twice.

Why this holds, and how the test sees it:
- The runtime commits offsets only after records are handled, per batch. Killed mid-batch,
  the child has handled records whose offsets are not committed; the restarted child gets
  them again (at-least-once), so nothing is lost.
- First test: the child keeps its idempotency record where the effect is: the handler writes the
  effect row and the processed-id row in ONE SQLite transaction (see `kill_worker`). After
  SIGKILL either both are on disk or neither; a redelivered event finds its id and writes
  nothing.
- Second test, the platform's way with two consumer processes in one group: the runtime's
  `IdempotencyGuard` in the document store (FerretDB) skips what a member already handled and
  marked, and the effect is an insert keyed by the event id (`shared.storeops.claim`, atomic on
  FerretDB and MongoDB), so an event handled but not marked when its process died is applied
  once all the same.
- The test asserts every published event has exactly one effect row, and that the restarted
  child did see redeliveries (`duplicates` rows): the kill really landed mid-batch.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

import pytest

from shared.bus.kafka import KafkaBus
from shared.settings import PlatformSettings
from shared.store import Store
from tests.bus_support import parcel, parcel_spec

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 200


def count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        try:
            value: int = conn.execute(sql).fetchone()[0]
        except sqlite3.OperationalError:  # tables not created yet
            return 0
    return value


async def wait_for_rows(db: Path, sql: str, at_least: int, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while count(db, sql) < at_least:
            await asyncio.sleep(0.05)


async def start_worker(
    topic: str, group: str, db: Path | None = None
) -> asyncio.subprocess.Process:
    sink = ["--db", str(db)] if db is not None else ["--store"]
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.kill_worker",
        "--topic",
        topic,
        "--group",
        group,
        *sink,
        cwd=ROOT,
    )


async def test_sigkill_mid_batch_then_restart_loses_nothing_and_writes_nothing_twice(
    kafka_env: str, unique: str, tmp_path: Path
) -> None:
    spec = parcel_spec(f"parcels-{unique}")
    group, db = f"g-{unique}", tmp_path / "effects.sqlite"
    bus = KafkaBus(PlatformSettings(), client_id="test")
    await bus.start()
    try:
        await bus.ensure_topics([spec.topic, f"{spec.topic}.dlq"])
        events = [parcel(spec, n) for n in range(EVENTS)]
        await asyncio.gather(*(bus.publish(spec, e) for e in events))
    finally:
        await bus.stop()

    first = await start_worker(spec.topic, group, db)
    try:
        await wait_for_rows(db, "SELECT COUNT(*) FROM effects", 40, timeout=30)
    finally:
        first.kill()  # SIGKILL: no commit, no LeaveGroup, nothing flushed
        await first.wait()
    assert first.returncode == -9
    assert count(db, "SELECT COUNT(*) FROM effects") < EVENTS, "killed too late"

    second = await start_worker(spec.topic, group, db)
    try:
        await wait_for_rows(db, "SELECT COUNT(*) FROM processed", EVENTS, timeout=60)
    finally:
        second.terminate()
        await asyncio.wait_for(second.wait(), 15)
    assert second.returncode == 0  # graceful stop on SIGTERM

    with sqlite3.connect(db) as conn:
        effects = [row[0] for row in conn.execute("SELECT event_id FROM effects")]
        duplicates = conn.execute("SELECT COUNT(*) FROM duplicates").fetchone()[0]
    assert sorted(effects) == sorted(e.id for e in events)  # each exactly once
    assert duplicates > 0  # the restart really was handed records the first child had handled


async def test_two_consumer_processes_with_the_guard_apply_each_event_once(
    kafka_env: str, unique: str, store: Store
) -> None:
    spec = parcel_spec(f"parcels-{unique}")
    group = f"g-{unique}"
    bus = KafkaBus(PlatformSettings(), client_id="test")
    await bus.start()
    try:
        await bus.ensure_topics([spec.topic, f"{spec.topic}.dlq"])
        events = [parcel(spec, n, key=f"k{n % 24}") for n in range(EVENTS)]
        await asyncio.gather(*(bus.publish(spec, e) for e in events))
    finally:
        await bus.stop()

    async def effects() -> int:
        return await store.db["effects"].count_documents({})

    async def until(at_least: int, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while await effects() < at_least:
                await asyncio.sleep(0.05)

    first = await start_worker(spec.topic, group)
    second = third = None
    try:
        await until(30, timeout=30)
        second = await start_worker(spec.topic, group)  # a rebalance moves partitions
        await until(80, timeout=30)
        first.kill()  # SIGKILL mid-batch: handled records are neither marked nor committed
        await first.wait()
        assert await effects() < EVENTS, "killed too late"
        third = await start_worker(spec.topic, group)
        await until(EVENTS, timeout=90)
    finally:
        for worker in (first, second, third):
            if worker is not None and worker.returncode is None:
                worker.terminate()
                await asyncio.wait_for(worker.wait(), 20)
    applied = [doc["_id"] async for doc in store.db["effects"].find({}, projection={"_id": 1})]
    assert sorted(applied) == sorted(e.id for e in events)  # each exactly once
    assert await store.db["processed"].count_documents({}) == EVENTS  # every event marked
