"""The document-store contract the platform relies on, run on the session's FerretDB in CI and on
any MongoDB that MONGODB_URL points at (`MONGODB_URL=mongodb://... make integration`).

What FerretDB 1.x does differently, and the rules that follow, are in docs/architecture.md ("The
document store"); `test_raw_inc_races_lose_updates_on_ferretdb` records the reason for them.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo import IndexModel
from pymongo.errors import DuplicateKeyError

from shared.store import Store, connect
from shared.storeops import WriterCounters, claim, insert_many_new, insert_or_get

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
RACER = "tests.integration.store.racer"


async def test_crud_by_id(store: Store) -> None:
    things = store.db["things"]
    await things.insert_one({"_id": "a", "n": 1, "tags": ["x", "y"], "at": datetime(2026, 1, 1)})
    found = await things.find_one({"_id": "a"})
    assert found is not None
    assert found["tags"] == ["x", "y"]
    assert found["at"] == datetime(2026, 1, 1, tzinfo=UTC)  # tz-aware reads
    await things.update_one({"_id": "a"}, {"$set": {"n": 2}, "$push": {"tags": "z"}})
    assert (await things.find_one({"_id": "a"}) or {})["tags"] == ["x", "y", "z"]
    await things.replace_one({"_id": "a"}, {"n": 3})
    assert await things.find_one({"_id": "a"}) == {"_id": "a", "n": 3}
    assert (await things.delete_one({"_id": "a"})).deleted_count == 1
    assert await things.find_one({"_id": "a"}) is None


async def test_a_unique_index_refuses_the_second_document(store: Store) -> None:
    await store.ensure_indexes({"keys": [IndexModel([("hash", 1)], unique=True)]})
    await store.db["keys"].insert_one({"_id": 1, "hash": "h"})
    with pytest.raises(DuplicateKeyError):
        await store.db["keys"].insert_one({"_id": 2, "hash": "h"})


async def test_declaring_indexes_again_is_harmless(store: Store) -> None:
    indexes = {
        "usage": [IndexModel([("key", 1)]), IndexModel([("key_id", 1), ("day", 1)])],
    }
    for _ in range(3):  # every start of every replica declares them
        await store.ensure_indexes(indexes)
    names = set(await store.db["usage"].index_information())
    assert {"key_1", "key_id_1_day_1"} <= names


async def test_sparse_and_partial_indexes_are_refused_by_the_store_layer(store: Store) -> None:
    for model in (
        IndexModel([("email", 1)], unique=True, sparse=True),
        IndexModel([("email", 1)], partialFilterExpression={"email": {"$exists": True}}),
    ):
        with pytest.raises(ValueError, match="no sparse or partial"):
            await store.ensure_indexes({"people": [model]})


async def test_racing_inserts_of_one_id_have_exactly_one_winner(store: Store) -> None:
    wins = await asyncio.gather(
        *(claim(store.db["claims"], "seat-1", {"by": n}) for n in range(20))
    )
    assert sum(wins) == 1
    assert await store.db["claims"].count_documents({}) == 1


async def test_insert_or_get_returns_the_first_writers_document(store: Store) -> None:
    docs = await asyncio.gather(
        *(insert_or_get(store.db["keys"], {"_id": "signing", "pem": f"key-{n}"}) for n in range(8))
    )
    assert len({doc["pem"] for doc in docs}) == 1


async def test_bulk_insert_with_duplicate_ids_inserts_the_new_ones_once(store: Store) -> None:
    events = store.db["events"]
    assert await insert_many_new(events, [{"_id": f"e{n}", "n": n} for n in range(5)]) == 5
    redelivered = [{"_id": f"e{n}", "n": n} for n in range(3, 8)]  # e3, e4 again
    assert await insert_many_new(events, redelivered) == 3
    assert await events.count_documents({}) == 8
    assert await insert_many_new(events, []) == 0


async def test_ttl_is_declared_once_and_expires(store: Store) -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    store.clock = lambda: now
    ttl = IndexModel([("seen_at", 1)], expireAfterSeconds=60, name="seen_at_ttl")
    await store.ensure_indexes({"marks": [ttl]})
    marks = store.db["marks"]
    await marks.insert_many(
        [{"_id": "old", "seen_at": now - timedelta(seconds=61)}, {"_id": "new", "seen_at": now}]
    )
    info = (await marks.index_information())["seen_at_ttl"]
    if await store.is_ferretdb():
        assert "expireAfterSeconds" not in info  # refused by FerretDB: swept instead
        assert await store.sweep_expired() == 1
        assert [doc["_id"] async for doc in marks.find()] == ["new"]
    else:
        assert info["expireAfterSeconds"] == 60  # MongoDB's TTL monitor expires them


def _racers(mode: str, store_url: str, database: str, names: list[str], rounds: int) -> list[Any]:
    """Start one racer process per name, release them together, collect their results."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", RACER, mode, store_url, database, name, str(rounds)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    results = []
    for process in processes:
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0, out
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


async def test_claims_from_two_processes_have_one_winner_each(
    store: Store, mongodb_env: str, database_name: str
) -> None:
    results = await asyncio.to_thread(
        _racers, "claim", mongodb_env, database_name, ["p1", "p2"], 100
    )
    assert sum(r["won"] for r in results) == 100  # every token claimed exactly once
    assert await store.db["race"].count_documents({}) == 100


async def test_writer_counters_from_two_processes_sum_exactly(
    store: Store, mongodb_env: str, database_name: str
) -> None:
    await asyncio.to_thread(_racers, "counter", mongodb_env, database_name, ["p1", "p2"], 200)
    counts = await WriterCounters(store.db["race"], writer="reader").counts(["tickets"])
    assert counts["tickets"].total == 400
    assert counts["tickets"].mine == 0


@pytest.mark.ferretdb_limitation
async def test_raw_inc_races_lose_updates_on_ferretdb(
    store: Store, mongodb_env: str, database_name: str
) -> None:
    """Why the platform never counts with a shared `$inc`: FerretDB 1.x applies it as read,
    modify, write with no isolation, so racing processes lose increments; MongoDB keeps all."""
    await asyncio.to_thread(_racers, "inc", mongodb_env, database_name, ["p1", "p2", "p3"], 320)
    total = (await store.db["race"].find_one({"_id": "raw"}) or {}).get("n", 0)
    if await store.is_ferretdb():
        assert total < 960, "FerretDB kept every racing $inc: revisit the store rules"
    else:
        assert total == 960


async def test_a_store_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.settings import PlatformSettings
    from shared.store import StoreNotConfiguredError, open_store

    monkeypatch.delenv("MONGODB_URL")
    with pytest.raises(StoreNotConfiguredError, match="MONGODB_URL is not set: demo"):
        await open_store(PlatformSettings(), service="demo")


async def test_connect_reports_the_server_kind(mongodb_env: str, database_name: str) -> None:
    opened = connect(mongodb_env, database_name, service="tests")
    try:
        info = await opened.db.command("buildInfo")
        assert await opened.is_ferretdb() == ("ferretdbVersion" in info)
    finally:
        await opened.close()
