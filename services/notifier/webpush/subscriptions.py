"""Browser push subscriptions: validation of the PushSubscription JSON and their storage.

One document per endpoint (`_id` = a hash of the endpoint, so an upsert is idempotent and any
replica computes the same id); a browser that subscribes again under another login moves the
subscription to that user. The endpoint is a URL this server will POST to, so it must be https
(plain http only for the configured local hosts) and, when configured, on an allowed host.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pymongo import ASCENDING, IndexModel

from services.notifier.webpush.vapid import b64url_decode

COLLECTION = "webpush_subscriptions"
INDEXES = {COLLECTION: [IndexModel([("user", ASCENDING), ("updated_at", ASCENDING)])]}


@dataclass(frozen=True)
class EndpointRules:
    insecure_hosts: tuple[str, ...]
    allowed_hosts: tuple[str, ...]  # suffixes; empty = any


class SubscriptionKeys(BaseModel):
    model_config = ConfigDict(extra="ignore")

    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=100)

    @field_validator("p256dh")
    @classmethod
    def _curve_point(cls, value: str) -> str:
        raw = b64url_decode(value)
        if len(raw) != 65 or raw[0] != 4:
            raise ValueError("must be a 65-byte uncompressed P-256 point (base64url)")
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)  # not on the curve
        return value

    @field_validator("auth")
    @classmethod
    def _auth_secret(cls, value: str) -> str:
        if len(b64url_decode(value)) != 16:
            raise ValueError("must be a 16-byte auth secret (base64url)")
        return value


class SubscriptionIn(BaseModel):
    """The browser's `PushSubscription.toJSON()`; validate with `context=EndpointRules`."""

    model_config = ConfigDict(extra="ignore")

    endpoint: str = Field(max_length=2048)
    keys: SubscriptionKeys
    expirationTime: float | None = Field(default=None, ge=0)  # noqa: N815 (browser's name)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str, info: ValidationInfo) -> str:
        rules = info.context if isinstance(info.context, EndpointRules) else None
        parts = urlsplit(value)
        host = (parts.hostname or "").lower()
        if not host or parts.username is not None or parts.password is not None:
            raise ValueError("must be an absolute URL with a host and no credentials")
        insecure_ok = rules is not None and host in rules.insecure_hosts
        if parts.scheme != "https" and not (parts.scheme == "http" and insecure_ok):
            raise ValueError("must be an https URL")
        allowed = rules.allowed_hosts if rules is not None and not insecure_ok else ()
        if allowed and not any(host == s or host.endswith("." + s) for s in allowed):
            raise ValueError("this push service host is not allowed")
        return value


@dataclass(frozen=True)
class Subscription:
    id: str
    user: str
    endpoint: str
    p256dh: bytes
    auth: bytes
    expires_at: float | None  # seconds since the epoch


def subscription_id(endpoint: str) -> str:
    return hashlib.sha256(endpoint.encode()).hexdigest()[:32]


def public_view(doc: dict[str, Any]) -> dict[str, Any]:
    """What a user sees of their subscriptions (no key material)."""
    return {
        "id": doc["_id"],
        "endpoint": doc["endpoint"],
        "expirationTime": doc.get("expiration_ms"),
        "createdAt": doc.get("created_at"),
        "updatedAt": doc.get("updated_at"),
    }


class Subscriptions:
    def __init__(self, db: Any, max_per_user: int, clock: Callable[[], float] = time.time) -> None:
        self._coll = db[COLLECTION]
        self._max = max_per_user
        self._clock = clock

    async def save(self, user: str, sub: SubscriptionIn) -> tuple[dict[str, Any], bool]:
        """Upsert by endpoint; returns the public view and whether it was new."""
        sid, now = subscription_id(sub.endpoint), self._clock()
        fields = {
            "user": user,
            "endpoint": sub.endpoint,
            "p256dh": sub.keys.p256dh,
            "auth": sub.keys.auth,
            "expiration_ms": sub.expirationTime,
            "updated_at": now,
        }
        result = await self._coll.update_one(
            {"_id": sid}, {"$set": fields, "$setOnInsert": {"created_at": now}}, upsert=True
        )
        await self._trim(user)
        doc = await self._coll.find_one({"_id": sid})
        return public_view(doc or {"_id": sid, **fields}), result.upserted_id is not None

    async def _trim(self, user: str) -> None:
        """Keep the newest `max_per_user` (browsers re-subscribe; stale ones pile up)."""
        ids = [
            d["_id"]
            async for d in self._coll.find({"user": user}, {"_id": 1}).sort("updated_at", -1)
        ]
        if len(ids) > self._max:
            await self._coll.delete_many({"_id": {"$in": ids[self._max :]}})

    async def listing(self, user: str) -> list[dict[str, Any]]:
        cursor = self._coll.find({"user": user}).sort("updated_at", -1)
        return [public_view(doc) async for doc in cursor]

    async def delete(
        self, user: str, *, sid: str | None = None, endpoint: str | None = None
    ) -> bool:
        """Delete one of the user's own subscriptions (another user's looks absent)."""
        target = sid if sid is not None else subscription_id(endpoint or "")
        result = await self._coll.delete_one({"_id": target, "user": user})
        return bool(result.deleted_count)

    async def prune(self, sid: str) -> bool:
        return bool((await self._coll.delete_one({"_id": sid})).deleted_count)

    async def of_user(self, user: str) -> list[Subscription]:
        return [_stored(doc) async for doc in self._coll.find({"user": user})]


def _stored(doc: dict[str, Any]) -> Subscription:
    expiration = doc.get("expiration_ms")
    return Subscription(
        id=doc["_id"],
        user=doc["user"],
        endpoint=doc["endpoint"],
        p256dh=b64url_decode(doc["p256dh"]),
        auth=b64url_decode(doc["auth"]),
        expires_at=float(expiration) / 1000 if expiration is not None else None,
    )
