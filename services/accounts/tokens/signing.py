"""ES256 signing keys (joserfc), rotated on a schedule, published as a JWKS.

Keys live in the `keys` collection as `sig:<n>` documents, the private JWK sealed by the envelope
(never in clear at rest). The highest `n` signs. A replica that finds the current key older than
ACCOUNTS_SIGNING_KEY_ROTATION_SECONDS (or an operator's rotate call) inserts `sig:<n+1>`; the
insert is atomic, so one candidate wins and every replica converges on it at its next refresh.
A key stops signing when its successor appears and stays in the JWKS until every token it could
have signed has expired (successor's creation + access-token TTL + leeway), so verifiers holding
such a token can still check it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import ECKey

from services.accounts.crypto.envelope import Envelope, Sealed
from shared.storeops import Collection, claim

PREFIX = "sig:"
LEEWAY_SECONDS = 60.0


@dataclass(frozen=True)
class SigningKey:
    number: int
    key: ECKey
    created_at: float

    @property
    def kid(self) -> str:
        return str(self.key.kid)

    def public(self) -> dict[str, Any]:
        return {**self.key.as_dict(private=False), "alg": "ES256", "use": "sig"}


class SigningKeys:
    def __init__(
        self,
        collection: Collection,
        envelope: Envelope,
        *,
        rotation_seconds: float,
        token_ttl_seconds: float,
        clock: Callable[[], float],
    ) -> None:
        self._coll = collection
        self._envelope = envelope
        self._rotation = rotation_seconds
        self._ttl = token_ttl_seconds
        self._clock = clock
        self._keys: list[SigningKey] = []  # ascending by number
        self._lock = asyncio.Lock()

    @property
    def current(self) -> SigningKey:
        if not self._keys:
            raise RuntimeError("signing keys not loaded")
        return self._keys[-1]

    def by_kid(self, kid: str) -> SigningKey | None:
        return next((k for k in self._keys if k.kid == kid), None)

    async def refresh(self) -> None:
        """Reload the keys, rotating first when the current one is due."""
        async with self._lock:
            await self._load()
            if not self._keys or self._clock() - self.current.created_at >= self._rotation:
                await self._add()

    async def rotate(self) -> SigningKey:
        """Start signing with a new key now (the operator's rotate call)."""
        async with self._lock:
            await self._load()
            await self._add()
            return self.current

    async def _add(self) -> None:
        number = self._keys[-1].number + 1 if self._keys else 1
        key = ECKey.generate_key("P-256", auto_kid=True)
        private = json.dumps(key.as_dict(private=True)).encode()
        sealed = self._envelope.seal(private, f"{PREFIX}{number}".encode())
        await claim(
            self._coll,
            f"{PREFIX}{number}",
            {"created_at": self._clock(), "sealed": sealed.document()},
        )
        await self._load()  # ours, or the replica's that won

    async def _load(self) -> None:
        keys = []
        async for doc in self._coll.find({"_id": {"$regex": f"^{PREFIX}"}}):
            number = int(str(doc["_id"]).removeprefix(PREFIX))
            known = next((k for k in self._keys if k.number == number), None)
            if known is None:
                plain = self._envelope.open(Sealed.of(doc["sealed"]), str(doc["_id"]).encode())
                known = SigningKey(number, ECKey.import_key(json.loads(plain)), doc["created_at"])
            keys.append(known)
        self._keys = sorted(keys, key=lambda k: k.number)

    def published(self) -> list[SigningKey]:
        """The current key and the retired ones whose tokens may still be unexpired."""
        now = self._clock()
        shown = []
        for index, key in enumerate(self._keys):
            successor = self._keys[index + 1] if index + 1 < len(self._keys) else None
            if successor is None or successor.created_at + self._ttl + LEEWAY_SECONDS > now:
                shown.append(key)
        return shown

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.public() for key in self.published()]}
