"""An asynchronous JWKS cache (PyJWT's PyJWKClient is synchronous and would block the loop).

Keys are fetched with aiohttp and kept for `ttl` seconds. A token naming a key id we do not hold
triggers one refetch, so a key rotation at the identity provider is picked up at once; refetches
are spaced by at least `min_refetch_interval`, so tokens with forged key ids cannot turn us into
a load generator against the JWKS endpoint. When a refresh fails, the keys we hold keep working.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from shared.security.errors import TokenError

log = logging.getLogger(__name__)

Jwk = dict[str, Any]
MAX_JWKS_BYTES = 1024 * 1024


def parse_jwks(document: Any) -> list[Jwk]:
    """Signature keys of a JWK Set; symmetric (`oct`) keys are never taken from a URL."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK Set")
    keys = []
    for key in document["keys"]:
        if not isinstance(key, dict) or key.get("kty") in (None, "oct"):
            continue
        if key.get("use", "sig") != "sig":
            continue
        keys.append(key)
    return keys


class JwksCache:
    def __init__(
        self,
        url: str,
        *,
        ttl: float = 300.0,
        min_refetch_interval: float = 30.0,
        timeout: float = 5.0,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.monotonic,
        headers: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        """`headers`: added to each fetch (a platform service's JWKS wants a signed caller;
        never set it for an outside identity provider)."""
        self.url = url
        self._headers = headers
        self.ttl = ttl
        self.min_refetch_interval = min_refetch_interval
        self.timeout = timeout
        self.fetch_count = 0
        self._session = session
        self._own_session = session is None
        self._clock = clock
        self._keys: list[Jwk] | None = None
        self._fetched_at = 0.0
        self._attempted_at: float | None = None
        self._generation = 0
        self._lock = asyncio.Lock()

    async def get(self, kid: str | None) -> Jwk:
        """The key for `kid` (or the only key when the token names none); raises TokenError."""
        generation = self._generation
        if self._keys is None or self._clock() - self._fetched_at >= self.ttl:
            await self._refresh(generation)
        key = self._lookup(kid)
        if key is None and self._generation == generation:
            await self._refresh(generation)  # maybe rotated: one (rate-limited) refetch
            key = self._lookup(kid)
        if key is None:
            if self._keys is None:
                raise TokenError("jwks_unavailable")
            raise TokenError("unknown_key")
        return key

    def _lookup(self, kid: str | None) -> Jwk | None:
        keys = self._keys or []
        if kid is None:
            return keys[0] if len(keys) == 1 else None
        return next((k for k in keys if k.get("kid") == kid), None)

    async def _refresh(self, seen_generation: int) -> None:
        async with self._lock:
            if self._generation != seen_generation:
                return  # another request refreshed while we waited for the lock
            now = self._clock()
            if (
                self._attempted_at is not None
                and now - self._attempted_at < self.min_refetch_interval
            ):
                return
            self._attempted_at = now
            try:
                keys = await self._fetch()
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                log.warning("JWKS fetch failed: %s", exc, extra={"jwks_url": self.url})
                return
            self._keys, self._fetched_at = keys, self._clock()
            self._generation += 1

    async def _fetch(self) -> list[Jwk]:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        self.fetch_count += 1
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        headers = self._headers() if self._headers is not None else None
        async with self._session.get(
            self.url, timeout=timeout, allow_redirects=False, headers=headers
        ) as resp:
            resp.raise_for_status()
            body = await resp.content.read(MAX_JWKS_BYTES + 1)
        if len(body) > MAX_JWKS_BYTES:
            raise ValueError("JWKS document too large")
        return parse_jwks(json.loads(body))

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None
