from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mongomock_motor import AsyncMongoMockClient

from shared.consumer.idempotency import IdempotencyGuard

pytestmark = pytest.mark.unit


@pytest.fixture
async def collection() -> AsyncIterator[Any]:
    client: AsyncMongoMockClient[dict[str, Any]] = AsyncMongoMockClient()
    yield client["db"]["processed"]
    client.close()


async def test_an_event_is_seen_only_after_it_is_marked(collection: Any) -> None:
    guard = IdempotencyGuard(collection, ttl_seconds=60)
    assert not await guard.seen("g:e1")
    await guard.mark("g:e1")
    assert await guard.seen("g:e1")
    assert not await guard.seen("other-group:e1")
    await guard.mark("g:e1")  # marking twice is harmless (upsert)
    assert await collection.count_documents({}) == 1


async def test_a_mark_older_than_the_ttl_no_longer_counts(collection: Any) -> None:
    guard = IdempotencyGuard(collection, ttl_seconds=60)
    then = datetime.now(UTC) - timedelta(seconds=61)
    await guard.mark("g:old", now=then)
    assert not await guard.seen("g:old")
    assert await guard.seen("g:old", now=then + timedelta(seconds=59))


async def test_ensure_indexes_creates_the_ttl_index_on_seen_at(collection: Any) -> None:
    guard = IdempotencyGuard(collection, ttl_seconds=86_400)
    await guard.ensure_indexes()
    info = await collection.index_information()
    assert list(info["seen_at_ttl"]["key"]) == [("seen_at", 1)]
    assert info["seen_at_ttl"]["expireAfterSeconds"] == 86_400


def test_a_ttl_must_be_positive(collection: Any) -> None:
    with pytest.raises(ValueError, match="ttl_seconds"):
        IdempotencyGuard(collection, ttl_seconds=0)


async def test_with_the_standin_store_ids_live_in_memory_with_the_same_rules() -> None:
    from shared.settings import PlatformSettings
    from shared.store import open_store

    store = await open_store(PlatformSettings(), service="test")
    try:
        guard = IdempotencyGuard.for_store(store, "processed", ttl_seconds=60)
        assert guard.collection is None
        await guard.ensure_indexes()
        start = datetime(2026, 1, 1, tzinfo=UTC)
        assert not await guard.seen("g:1", now=start)
        await guard.mark("g:1", now=start)
        assert await guard.seen("g:1", now=start + timedelta(seconds=59))
        assert not await guard.seen("g:1", now=start + timedelta(seconds=61))
    finally:
        await store.close()
