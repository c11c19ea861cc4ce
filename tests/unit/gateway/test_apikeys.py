"""API keys: format and entropy, hashed storage, revocation, the positive and negative cache."""

from __future__ import annotations

import hashlib

import pytest

from services.gateway.auth.apikeys import ApiKeyStore
from shared.store import Store
from tests.unit.gateway.g2_support import CountingCollection, FakeTime

pytestmark = pytest.mark.unit


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


@pytest.fixture
def collection(store: Store) -> CountingCollection:
    return CountingCollection(store.db["api_keys"])


@pytest.fixture
def keys(collection: CountingCollection, clock: FakeTime) -> ApiKeyStore:
    return ApiKeyStore(collection, cache_seconds=5, clock=clock)


async def test_a_key_is_random_prefixed_and_stored_only_as_a_hash(
    keys: ApiKeyStore, store: Store
) -> None:
    key, plaintext = await keys.create("billing", "gold", scopes=["b", "a", "a"])
    prefix, key_id, secret = plaintext.split("_", 2)
    assert (prefix, key_id) == ("sk", key.id)
    assert len(secret) >= 43  # token_urlsafe(32): 256 bits
    assert key.scopes == ("a", "b")
    doc = await store.db["api_keys"].find_one({"_id": key.id})
    assert doc is not None
    assert doc["hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(doc)
    assert plaintext not in repr(doc)
    assert "hash" not in key.model_dump()
    _, other = await keys.create("billing", "gold")
    assert other != plaintext


async def test_authenticate_accepts_the_key_and_refuses_a_wrong_secret(keys: ApiKeyStore) -> None:
    key, plaintext = await keys.create("k", "default")
    found = await keys.authenticate(plaintext)
    assert found is not None
    assert found.id == key.id
    assert found.plan_id == "default"
    forged = plaintext[:-4] + ("AAAA" if not plaintext.endswith("AAAA") else "BBBB")
    assert await keys.authenticate(forged) is None


async def test_malformed_keys_never_reach_the_store(
    keys: ApiKeyStore, collection: CountingCollection
) -> None:
    for bad in ["", "sk_", "pk_0123456789ab_" + "x" * 43, "sk_XYZ_abc", "x" * 5000]:
        assert await keys.authenticate(bad) is None
    assert collection.find_one_calls == 0


async def test_a_flood_of_one_unknown_key_hits_the_store_once_per_ttl(
    keys: ApiKeyStore, collection: CountingCollection, clock: FakeTime
) -> None:
    unknown = "sk_0123456789ab_" + "x" * 43
    for _ in range(100):
        assert await keys.authenticate(unknown) is None
    assert collection.find_one_calls == 1
    clock.advance(5)
    assert await keys.authenticate(unknown) is None
    assert collection.find_one_calls == 2


async def test_wrong_secrets_for_a_real_id_are_decided_from_the_cache(
    keys: ApiKeyStore, collection: CountingCollection
) -> None:
    key, plaintext = await keys.create("k", "default")
    assert await keys.authenticate(plaintext) is not None
    calls = collection.find_one_calls
    for n in range(20):
        assert await keys.authenticate(f"sk_{key.id}_{n:043d}") is None
    assert collection.find_one_calls == calls


async def test_revocation_is_immediate_here_and_within_the_ttl_elsewhere(
    keys: ApiKeyStore, collection: CountingCollection, clock: FakeTime
) -> None:
    other_process = ApiKeyStore(collection.inner, cache_seconds=5, clock=clock)
    key, plaintext = await keys.create("k", "default")
    assert await keys.authenticate(plaintext) is not None
    assert await other_process.authenticate(plaintext) is not None

    assert await keys.revoke(key.id)
    assert await keys.authenticate(plaintext) is None
    assert await other_process.authenticate(plaintext) is not None  # still cached
    clock.advance(5)
    assert await other_process.authenticate(plaintext) is None

    revoked = await keys.get(key.id)
    assert revoked is not None
    assert not revoked.active
    assert await keys.revoke(key.id)  # idempotent
    assert not await keys.revoke("000000000000")


async def test_listing_filters_and_never_shows_hashes(keys: ApiKeyStore) -> None:
    gold, _ = await keys.create("a", "gold")
    silver, _ = await keys.create("b", "silver")
    await keys.revoke(silver.id)
    assert {k.id for k in await keys.list()} == {gold.id, silver.id}
    assert [k.id for k in await keys.list(include_revoked=False)] == [gold.id]
    assert [k.id for k in await keys.list(plan_id="silver")] == [silver.id]
    assert await keys.count_active("gold") == 1
    assert await keys.count_active("silver") == 0
    assert all("hash" not in k.model_dump() for k in await keys.list())


async def test_the_cache_is_bounded(collection: CountingCollection, clock: FakeTime) -> None:
    keys = ApiKeyStore(collection, cache_size=3, clock=clock)
    for n in range(50):
        await keys.authenticate(f"sk_{n:012x}_" + "x" * 43)
    assert len(keys._cache) == 3


async def test_indexes_name_the_collection(keys: ApiKeyStore, store: Store) -> None:
    await store.ensure_indexes(keys.indexes())
    await keys.ensure_indexes()
    info = await store.db["api_keys"].index_information()
    assert "plan_id_1_revoked_at_1" in info
