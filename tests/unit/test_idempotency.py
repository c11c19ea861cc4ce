from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.consumer.idempotency import IdempotencyGuard
from shared.store import Store

pytestmark = pytest.mark.unit


async def test_an_event_is_seen_only_after_it_is_marked(store: Store) -> None:
    guard = IdempotencyGuard.for_store(store, "processed", ttl_seconds=60)
    assert not await guard.seen("g:e1")
    await guard.mark("g:e1")
    assert await guard.seen("g:e1")
    assert not await guard.seen("other-group:e1")
    await guard.mark("g:e1")  # marking twice is harmless
    assert await store.db["processed"].count_documents({}) == 1


async def test_a_mark_older_than_the_ttl_no_longer_counts(store: Store) -> None:
    guard = IdempotencyGuard.for_store(store, "processed", ttl_seconds=60)
    then = datetime.now(UTC) - timedelta(seconds=61)
    await guard.mark("g:old", now=then)
    assert not await guard.seen("g:old")
    assert await guard.seen("g:old", now=then + timedelta(seconds=59))
    await guard.mark("g:old")  # handled again after expiry: its TTL starts again
    assert await guard.seen("g:old")


async def test_the_ttl_index_is_declared_once_and_expires_marks(store: Store) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    store.clock = lambda: start + timedelta(days=2)
    guard = IdempotencyGuard.for_store(store, "processed", ttl_seconds=86_400)
    await store.ensure_indexes({"processed": guard.index_models()})
    await guard.mark("g:old", now=start)
    await guard.mark("g:new", now=start + timedelta(days=1, hours=12))
    info = await store.db["processed"].index_information()
    assert list(info["seen_at_ttl"]["key"]) == [("seen_at", 1)]
    if await store.is_ferretdb():  # FerretDB refuses TTL indexes: the store sweeps instead
        assert "expireAfterSeconds" not in info["seen_at_ttl"]
        assert await store.sweep_expired() == 1
        assert await store.db["processed"].find_one({"_id": "g:old"}) is None
        assert await store.db["processed"].find_one({"_id": "g:new"}) is not None
    else:
        assert info["seen_at_ttl"]["expireAfterSeconds"] == 86_400


def test_a_ttl_must_be_positive(store: Store) -> None:
    with pytest.raises(ValueError, match="ttl_seconds"):
        IdempotencyGuard.for_store(store, "processed", ttl_seconds=0)
