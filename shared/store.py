"""MongoDB through PyMongo's async API, or an in-process stand-in when MONGODB_URL is unset.

    store = await open_store(platform_settings, service="gateway")
    store.db            # pymongo AsyncDatabase (or the mongomock-motor stand-in, same calls)
    store.durable       # False for the stand-in
    await store.ensure_indexes({"api_keys": [IndexModel([("hash", 1)], unique=True)]})
    await store.ping()  # True when reachable (readiness)
    await store.close()

The stand-in keeps data in this process only: each service (and each replica) has its own,
and it is gone on restart. That is fine for `make run` and unit tests, never for production,
so opening it logs one loud warning.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import AsyncMongoClient, IndexModel

from shared.settings import PlatformSettings

log = logging.getLogger("shared.store")

PING_TIMEOUT_SECONDS = 2.0


@dataclass
class Store:
    client: Any
    db: Any
    durable: bool

    async def ensure_indexes(self, indexes: Mapping[str, Sequence[IndexModel]]) -> None:
        for collection, models in indexes.items():
            if models:
                await self.db[collection].create_indexes(list(models))

    async def ping(self) -> bool:
        if not self.durable:
            return True
        try:
            async with asyncio.timeout(PING_TIMEOUT_SECONDS):
                await self.db.command("ping")
        except Exception:  # readiness reports, it never raises
            return False
        return True

    async def close(self) -> None:
        if self.durable:
            await self.client.close()
        else:
            self.client.close()


def _standin(database: str) -> Store:
    from mongomock_motor import AsyncMongoMockClient

    client: Any = AsyncMongoMockClient()
    return Store(client=client, db=client[database], durable=False)


async def open_store(platform: PlatformSettings, *, service: str) -> Store:
    if platform.mongodb_url is None:
        log.warning(
            "MONGODB_URL is not set: %s uses an in-process MongoDB stand-in; "
            "its data is NOT durable and is lost when the process stops",
            service,
        )
        return _standin(platform.mongodb_database)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        platform.mongodb_url.get_secret_value(),
        appname=f"surge-{service}",
        serverSelectionTimeoutMS=5000,
        tz_aware=True,
    )
    return Store(client=client, db=client[platform.mongodb_database], durable=True)
