"""MongoDB through PyMongo's async API: a real MongoDB, or FerretDB (`make run`, the tests).

    store = await open_store(platform_settings, service="gateway")   # MONGODB_URL is required
    store.db            # pymongo AsyncDatabase
    await store.ensure_indexes({"api_keys": [IndexModel([("hash", 1)], unique=True)]})
    await store.ping()  # True when reachable (readiness)
    await store.close()

FerretDB 1.x is not MongoDB (docs/architecture.md, "The document store"): `createIndexes`
refuses TTL and partial indexes and ignores `sparse`, updates are read-modify-write with no
isolation, and only an `{_id: ...}` filter is answered without a scan. So TTL is declared once,
as an index with `expireAfterSeconds`: on MongoDB the server expires documents, on FerretDB the
option is stripped and this store runs the sweep MongoDB's TTL monitor would (every 60 s). What
must be exact under concurrency uses `shared.storeops` (inserts with deterministic `_id`s).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from shared.settings import PlatformSettings

log = logging.getLogger("shared.store")

PING_TIMEOUT_SECONDS = 2.0
SWEEP_SECONDS = 60.0  # MongoDB's TTL monitor runs once a minute too


class StoreNotConfiguredError(RuntimeError):
    pass


@dataclass(frozen=True)
class Expiry:
    """A TTL index FerretDB cannot keep: documents whose `field` is older than `seconds`."""

    collection: str
    field: str
    seconds: float


@dataclass
class Store:
    client: AsyncMongoClient[dict[str, Any]]
    db: AsyncDatabase[dict[str, Any]]
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    expiries: list[Expiry] = field(default_factory=list)
    _ferretdb: bool | None = None
    _sweeper: asyncio.Task[None] | None = None

    async def is_ferretdb(self) -> bool:
        """Asked once: FerretDB answers `buildInfo` with a `ferretdbVersion`."""
        if self._ferretdb is None:
            info = await self.db.command("buildInfo")
            self._ferretdb = "ferretdbVersion" in info
        return self._ferretdb

    async def ensure_indexes(self, indexes: Mapping[str, Sequence[IndexModel]]) -> None:
        for collection, models in indexes.items():
            if not models:
                continue
            for model in models:
                # One index per command: FerretDB 1.24 panics on a createIndexes of several
                # indexes that all exist already (every restart declares them again).
                await self.db[collection].create_indexes([await self._supported(collection, model)])

    async def _supported(self, collection: str, model: IndexModel) -> IndexModel:
        spec = dict(model.document)
        if spec.get("sparse") or "partialFilterExpression" in spec:
            # FerretDB ignores `sparse` (a unique index then refuses a second document without
            # the field) and refuses partial indexes: neither behaves the same on both servers.
            raise ValueError(f"index {spec['name']} on {collection}: no sparse or partial indexes")
        seconds = spec.pop("expireAfterSeconds", None)
        if seconds is None or not await self.is_ferretdb():
            return model
        keys = list(spec.pop("key").items())
        if len(keys) != 1:
            raise ValueError(f"TTL index {spec['name']} on {collection} must have one field")
        self.expiries.append(Expiry(collection, keys[0][0], float(seconds)))
        self._start_sweeper()
        return IndexModel(keys, **spec)

    async def sweep_expired(self) -> int:
        """Delete what the TTL indexes FerretDB cannot keep would have expired by now."""
        removed = 0
        now = self.clock()
        for expiry in self.expiries:
            oldest = now - timedelta(seconds=expiry.seconds)
            result = await self.db[expiry.collection].delete_many({expiry.field: {"$lt": oldest}})
            removed += result.deleted_count
        return removed

    def _start_sweeper(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(
                self._sweep_forever(), name="store-ttl-sweep"
            )

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self.sweep_expired()
            except Exception:  # the next sweep tries again; expiry is never relied on
                log.warning("TTL sweep failed", exc_info=True)

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(PING_TIMEOUT_SECONDS):
                await self.db.command("ping")
        except Exception:  # readiness reports, it never raises
            return False
        return True

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        await self.client.close()


def connect(url: str, database: str, *, service: str) -> Store:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        url,
        appname=f"surge-{service}",
        serverSelectionTimeoutMS=5000,
        tz_aware=True,
    )
    return Store(client=client, db=client[database])


async def open_store(platform: PlatformSettings, *, service: str) -> Store:
    if platform.mongodb_url is None:
        raise StoreNotConfiguredError(
            f"MONGODB_URL is not set: {service} keeps its data in a MongoDB-protocol server "
            "(`make run` starts FerretDB and sets it; compose and k8s use MongoDB)"
        )
    return connect(
        platform.mongodb_url.get_secret_value(), platform.mongodb_database, service=service
    )
