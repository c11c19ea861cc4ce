"""VAPID (RFC 8292): the application server's P-256 key and the `Authorization: vapid` header.

The key comes from configuration or, when unset, is generated once and stored so every replica
signs with the same key (browsers bind a subscription to the public key they were given).
Creation is insert-if-absent followed by a read-back, so two replicas starting together agree
on whichever insert won.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shared.storeops import insert_or_get

VAPID_COLLECTION = "webpush_vapid"
VAPID_DOC_ID = "vapid"
TOKEN_TTL_SECONDS = 12 * 3600  # RFC 8292 allows at most 24 h
RENEW_BEFORE_SECONDS = 3600  # cached tokens are replaced an hour before they expire
_B64URL = re.compile(r"[A-Za-z0-9_-]+")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding (browsers omit it); ValueError when invalid."""
    normalised = text.strip().replace("+", "-").replace("/", "_").rstrip("=")
    if not _B64URL.fullmatch(normalised) or len(normalised) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(normalised + "=" * (-len(normalised) % 4))


def load_private_key(text: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key from PEM or from base64url of the raw 32-byte scalar."""
    stripped = text.strip()
    if stripped.startswith("-----BEGIN"):
        key: Any = serialization.load_pem_private_key(stripped.encode(), password=None)
    else:
        raw = b64url_decode(stripped)
        if len(raw) != 32:
            raise ValueError("a raw VAPID private key is 32 bytes")
        key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("the VAPID key must be an EC P-256 private key")
    return key


def raw_private(key: ec.EllipticCurvePrivateKey) -> str:
    return b64url(key.private_numbers().private_value.to_bytes(32, "big"))


def public_point(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


async def stored_key(db: Any) -> ec.EllipticCurvePrivateKey:
    """The shared generated key: insert ours if none exists, then use whatever is stored."""
    candidate = raw_private(ec.generate_private_key(ec.SECP256R1()))
    doc = await insert_or_get(
        db[VAPID_COLLECTION],
        {"_id": VAPID_DOC_ID, "private_key": candidate, "created_at": datetime.now(UTC)},
    )
    if not isinstance(doc.get("private_key"), str):
        raise RuntimeError("the stored VAPID key could not be read back")
    return load_private_key(doc["private_key"])


def audience(endpoint: str) -> str:
    """The origin of a push endpoint (scheme://host[:port]), the JWT `aud`."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


class Vapid:
    def __init__(
        self,
        key: ec.EllipticCurvePrivateKey,
        subject: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key
        self.subject = subject
        self.public_key = b64url(public_point(key))
        self._clock = clock
        self._cache: dict[str, tuple[str, float]] = {}

    def header(self, endpoint: str) -> str:
        """`vapid t=<jwt>, k=<public key>` for the endpoint's origin (cached until near expiry)."""
        aud = audience(endpoint)
        now = self._clock()
        cached = self._cache.get(aud)
        if cached is not None and cached[1] - now > RENEW_BEFORE_SECONDS:
            return cached[0]
        expires = int(now) + TOKEN_TTL_SECONDS
        claims = {"aud": aud, "exp": expires, "sub": self.subject}
        token = jwt.encode(claims, self._key, algorithm="ES256", headers={"typ": "JWT"})
        value = f"vapid t={token}, k={self.public_key}"
        if len(self._cache) > 1024:  # a handful of push services in practice; never unbounded
            self._cache.clear()
        self._cache[aud] = (value, float(expires))
        return value
