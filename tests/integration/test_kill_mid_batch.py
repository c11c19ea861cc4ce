"""A consumer SIGKILLed mid-batch and restarted loses nothing and writes nothing twice.

Why this holds, and how the test sees it:
- The runtime commits offsets only after records are handled, per batch. Killed mid-batch,
  the child has handled records whose offsets are not committed; the restarted child gets
  them again (at-least-once), so nothing is lost.
- The in-process Mongo stand-in (and so `IdempotencyGuard` over it) dies with the process, so
  the child keeps its idempotency record where the effect is: the handler writes the effect
  row and the processed-id row in ONE SQLite transaction (see `kill_worker`). After SIGKILL
  either both are on disk or neither; a redelivered event finds its id and writes nothing.
  In production the same pattern is a Mongo transaction or an upsert keyed by event id.
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


async def start_worker(topic: str, group: str, db: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.kill_worker",
        "--topic",
        topic,
        "--group",
        group,
        "--db",
        str(db),
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
