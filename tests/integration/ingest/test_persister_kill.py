"""The persister SIGKILLed mid-way and restarted: every event the collector acknowledged is
stored exactly once.

The collector (in this process) acknowledges batches of events; the persister runs as the
service does (`python -m services.ingest` with INGEST_CONSUMERS=persist) in a child process,
is killed with SIGKILL while it is storing, and started again. The restarted member gets the
uncommitted records again; the bulk insert with `_id` = event id skips what is already stored.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from aiohttp import ClientSession

from services.ingest.collect.enrich import batch_event_id
from services.ingest.consume.persister import COLLECTION
from shared.stack.servers import free_port
from shared.store import Store
from tests.ingest_support import running_ingest, user

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
BATCHES, PER_BATCH = 4, 500


async def start_persister(group_prefix: str, port: int) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "INGEST_PORT": str(port),
        "INGEST_CONSUMERS": "persist",
        "INGEST_CONSUMER_GROUP_PREFIX": group_prefix,
        "INGEST_PERSIST_BATCH_SIZE": "100",
        "LOG_LEVEL": "WARNING",
        "OTEL_SDK_DISABLED": "true",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.ingest", cwd=ROOT, env=env
    )


async def stored(store: Store, program: str) -> int:
    return await store.db[COLLECTION].count_documents({"program": program})


async def wait_stored(store: Store, program: str, at_least: int, within: float) -> int:
    async with asyncio.timeout(within):
        while (count := await stored(store, program)) < at_least:
            await asyncio.sleep(0.05)
    return count


async def test_sigkill_mid_batch_then_restart_stores_every_acknowledged_event_once(
    kafka_env: str, store: Store, unique: str
) -> None:
    program = f"p{unique}"
    acknowledged: list[str] = []
    async with running_ingest() as ingest:
        await ingest.put_program(program)
        for b in range(BATCHES):
            ids = [f"c{b}-{i}" for i in range(PER_BATCH)]
            events = [{"id": i, "program": program, "type": "impression"} for i in ids]
            response = await ingest.http.post(
                "/t/events", json={"events": events}, headers=user("a")
            )
            assert response.status == 200, await response.text()
            assert (await response.json())["accepted"] == PER_BATCH
            acknowledged.extend(batch_event_id(program, i) for i in ids)
    total = len(acknowledged)
    group = f"kill-{unique}"

    first = await start_persister(group, free_port())
    try:
        killed_at = await wait_stored(store, program, 300, within=60)
    finally:
        first.kill()  # SIGKILL: no commit, no LeaveGroup
        await first.wait()
    assert first.returncode == -9
    assert killed_at < total, "killed too late"

    port = free_port()
    second = await start_persister(group, port)
    try:
        await wait_stored(store, program, total, within=120)
        async with ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as got:
            metrics = await got.text()
    finally:
        second.terminate()
        await asyncio.wait_for(second.wait(), 30)
    assert second.returncode == 0  # a graceful stop on SIGTERM

    ids = [doc["_id"] async for doc in store.db[COLLECTION].find({"program": program}, {"_id": 1})]
    assert len(ids) == total
    assert sorted(ids) == sorted(acknowledged)  # every acknowledged event, none twice
    assert "ingest_persisted_total" in metrics
