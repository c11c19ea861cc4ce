"""Serving avatar variants, rendered on the fly for sizes on the allow-list.

A variant is looked up in the blob store; a size not made yet is rendered from the canonical
image once (single flight per variant key: concurrent requests wait for the one render), stored
beside the canonical image, and served from the store after that. A small in-process cache
holds recent variants' bytes and ETags (bounded by AVATARS-wide `cache_bytes`) and each
version's state for a few seconds: a replaced or rejected version answers 404 within
`state_seconds` on other replicas, at once on the one that changed it.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from services.avatars.blobs.base import BlobStore, version_prefix
from services.avatars.cpu import CpuPool, render_task
from services.avatars.imaging.variants import EXTENSIONS

STATE_SECONDS = 5.0
CACHE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Variant:
    data: bytes
    etag: str
    source: str  # "memory", "store" or "rendered" (the X-Avatar-Source header)


def etag_of(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


class MediaServer:
    def __init__(
        self,
        versions: AsyncCollection[dict[str, Any]],
        blobs: BlobStore,
        pool: CpuPool,
        render_timeout: float,
        allowed: frozenset[tuple[int, int]],
        *,
        cache_bytes: int = CACHE_BYTES,
        state_seconds: float = STATE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.versions, self.blobs, self.pool = versions, blobs, pool
        self.render_timeout = render_timeout
        self.allowed = allowed  # the sizes that may be served (parsed once, not per request)
        self.cache_bytes, self.state_seconds, self.clock = cache_bytes, state_seconds, clock
        self._states: dict[str, tuple[float, bool]] = {}
        self._bytes: OrderedDict[str, Variant] = OrderedDict()
        self._held = 0
        self._flights: dict[str, asyncio.Future[Variant]] = {}
        self.renders = 0

    async def published(self, user: str, version: str) -> bool:
        key = f"{user}/{version}"
        now = self.clock()
        cached = self._states.get(key)
        if cached is not None and now - cached[0] < self.state_seconds:
            return cached[1]
        doc = await self.versions.find_one({"_id": key}, projection={"state": 1})
        live = doc is not None and doc.get("state") == "published"
        if len(self._states) > 100_000:
            self._states.clear()
        self._states[key] = (now, live)
        return live

    def forget(self, user: str, version: str) -> None:
        """This process retired the version: stop serving it at once."""
        self._states.pop(f"{user}/{version}", None)
        prefix = version_prefix(user, version)
        for key in [k for k in self._bytes if k.startswith(prefix)]:
            self._held -= len(self._bytes.pop(key).data)

    async def variant(self, user: str, version: str, width: int, height: int, fmt: str) -> Variant:
        key = f"{version_prefix(user, version)}{width}x{height}.{EXTENSIONS[fmt]}"
        cached = self._bytes.get(key)
        if cached is not None:
            self._bytes.move_to_end(key)
            return Variant(cached.data, cached.etag, "memory")
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.get_running_loop().create_future()
            self._flights[key] = flight
            try:
                found = await self._load_or_render(key, user, version, width, height, fmt)
            except BaseException as exc:
                flight.set_exception(exc)
                flight.exception()  # retrieved: waiters (if any) re-raise it themselves
                raise
            finally:
                self._flights.pop(key, None)
            flight.set_result(found)
            self._keep(key, found)
            return found
        return await asyncio.shield(flight)

    async def _load_or_render(
        self, key: str, user: str, version: str, width: int, height: int, fmt: str
    ) -> Variant:
        stored = await self.blobs.get(key)
        if stored is not None:
            return Variant(stored, etag_of(stored), "store")
        canonical = await self.blobs.get(version_prefix(user, version) + "canonical.webp")
        if canonical is None:
            raise LookupError(key)
        data = await self.pool.run(self.render_timeout, render_task, canonical, width, height, fmt)
        self.renders += 1
        await self.blobs.put(key, data, f"image/{fmt}")
        return Variant(data, etag_of(data), "rendered")

    def _keep(self, key: str, variant: Variant) -> None:
        if len(variant.data) > self.cache_bytes // 16:
            return
        self._bytes[key] = variant
        self._held += len(variant.data)
        while self._held > self.cache_bytes and self._bytes:
            _, dropped = self._bytes.popitem(last=False)
            self._held -= len(dropped.data)
