"""API keys: random, shown once, stored hashed in MongoDB, revocable, bound to a usage plan.

A key reads `sk_<id>_<secret>`: `id` (12 hex chars) is public and is the document `_id`, the
secret is `secrets.token_urlsafe(32)` (256 bits). Only SHA-256(secret) is stored; a slow hash is
unnecessary for a secret with that much entropy. Lookups by id then compare hashes in constant
time.

Lookups are cached for `cache_seconds` (positive and negative, LRU-bounded), so a flood of the
same bad key never reaches the store and a bad secret for a real id is decided from the cache.
A revocation is immediate in this process and visible to the others within the TTL.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from pymongo import IndexModel

from shared.cache import TtlCache

KEY_PREFIX = "sk"
_KEY_RE = re.compile(r"^sk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
MAX_LIST = 1000


class ApiKey(BaseModel):
    """A key as the admin API shows it: never the secret, never its hash."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    plan_id: str
    scopes: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _utc(value: Any) -> Any:
    # The stand-in store (and a client without tz_aware) hands back naive UTC datetimes.
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _from_doc(doc: dict[str, Any]) -> ApiKey:
    fields = {k: _utc(v) for k, v in doc.items() if k not in {"_id", "hash"}}
    return ApiKey.model_validate({**fields, "id": doc["_id"]})


class ApiKeyStore:
    def __init__(
        self,
        collection: Any,
        *,
        cache_seconds: float = 5.0,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._collection = collection
        # key id -> stored document, or None for "no such key" (negative answers are cached too)
        self._cache = TtlCache[str, tuple[dict[str, Any] | None]](
            max_size=cache_size, ttl=cache_seconds, clock=clock
        )

    def indexes(self) -> dict[str, list[IndexModel]]:
        """For `Store.ensure_indexes` (counting a plan's keys before it may be deleted)."""
        return {self._collection.name: [IndexModel([("plan_id", 1), ("revoked_at", 1)])]}

    async def ensure_indexes(self) -> None:
        await self._collection.create_indexes(self.indexes()[self._collection.name])

    async def create(
        self, name: str, plan_id: str, *, scopes: Iterable[str] = (), roles: Iterable[str] = ()
    ) -> tuple[ApiKey, str]:
        """A new key and its plaintext, which is never available again."""
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        doc: dict[str, Any] = {
            "_id": key_id,
            "name": name,
            "plan_id": plan_id,
            "scopes": sorted(set(scopes)),
            "roles": sorted(set(roles)),
            "prefix": f"{KEY_PREFIX}_{key_id}",
            "hash": hash_secret(secret),
            # Millisecond precision: what MongoDB stores, so reads compare equal.
            "created_at": datetime.now(UTC).replace(microsecond=0),
            "revoked_at": None,
        }
        await self._collection.insert_one(doc)
        self._cache.pop(key_id)
        return _from_doc(doc), f"{KEY_PREFIX}_{key_id}_{secret}"

    async def get(self, key_id: str) -> ApiKey | None:
        doc = await self._collection.find_one({"_id": key_id})
        return None if doc is None else _from_doc(doc)

    async def list(
        self, *, plan_id: str | None = None, include_revoked: bool = True
    ) -> list[ApiKey]:
        query: dict[str, Any] = {} if plan_id is None else {"plan_id": plan_id}
        if not include_revoked:
            query["revoked_at"] = None
        docs = await self._collection.find(query, {"hash": 0}).sort("_id", 1).to_list(MAX_LIST)
        return [_from_doc(doc) for doc in docs]

    async def count_active(self, plan_id: str) -> int:
        return int(await self._collection.count_documents({"plan_id": plan_id, "revoked_at": None}))

    async def revoke(self, key_id: str) -> bool:
        """Revoke (idempotent); False when there is no such key."""
        now = datetime.now(UTC).replace(microsecond=0)
        await self._collection.update_one(
            {"_id": key_id, "revoked_at": None}, {"$set": {"revoked_at": now}}
        )
        doc = await self._collection.find_one({"_id": key_id})
        self._remember(key_id, doc)
        return doc is not None

    async def authenticate(self, presented: str) -> ApiKey | None:
        """The active key matching the presented plaintext, else None."""
        match = _KEY_RE.match(presented)
        if match is None:
            return None  # malformed: decided without touching the store or the cache
        key_id, secret = match.groups()
        doc = await self._lookup(key_id)
        if doc is None or doc.get("revoked_at") is not None:
            return None
        if not hmac.compare_digest(str(doc.get("hash", "")), hash_secret(secret)):
            return None
        return _from_doc(doc)

    async def _lookup(self, key_id: str) -> dict[str, Any] | None:
        cached = self._cache.get(key_id)
        if cached is not None:
            return cached[0]
        doc: dict[str, Any] | None = await self._collection.find_one({"_id": key_id})
        self._remember(key_id, doc)
        return doc

    def _remember(self, key_id: str, doc: dict[str, Any] | None) -> None:
        self._cache.put(key_id, (doc,))
