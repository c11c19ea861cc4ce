"""The avatars application (port AVATARS_PORT): the player's upload API and upload URL, public
media, the page, and behind ADMIN_TOKEN the review queue and blocklist.

Start order: bus, store, HTTP client (shared contexts) -> core: indexes, the blob store, the
CPU pool, then the workflow consumer (group AVATARS_CONSUMER_GROUP on `avatars.uploads`).
Stop runs it backwards: the consumer finishes its record and commits before the pool closes.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

from aiohttp import web

from services.avatars.api import admin, blobs, media, page, uploads
from services.avatars.blobs.base import BlobStore, open_blob_store
from services.avatars.cpu import CpuPool
from services.avatars.keys import AVATARS_SETTINGS, CONTEXT, Context
from services.avatars.media import MediaServer
from services.avatars.moderation.blocklist import Blocklist
from services.avatars.openapi import ROUTES
from services.avatars.settings import AvatarsSettings
from services.avatars.workflow.engine import Sleep, Workflow
from services.avatars.workflow.leases import Leases
from services.avatars.workflow.notify import Announcer
from services.avatars.workflow.steps import Steps
from services.avatars.workflow.uploads import INDEXES, UPLOADS, VERSIONS, Uploads
from shared.bus.base import Bus
from shared.consumer import EventConsumer, RetryPolicy
from shared.events.contracts.avatars import AVATAR_MODERATED, AVATAR_UPLOADED
from shared.events.contracts.notifier import NOTIFICATION_REQUESTED
from shared.http.app import BusFactory, add_readiness, create_app
from shared.http.keys import BUS, STORE
from shared.settings import PlatformSettings

Clock = Callable[[], datetime]
CONSUMERS = web.AppKey("avatars_consumers", list[EventConsumer])
# Kafka answers a fetch as soon as records arrive, so a long wait costs no latency; it only
# paces idle polling. The workflow's several group members at the platform's 25 ms each kept
# the broker busier than the pipeline itself in bench/avatars.py.
IDLE_FETCH_WAIT_MS = 500


def avatars_bus(platform: PlatformSettings, service: str) -> Bus:
    from shared.bus.kafka import KafkaBus

    return KafkaBus(
        platform,
        client_id=f"{platform.kafka_client_id_prefix}-{service}",
        consumer_options={
            "fetch_max_wait_ms": max(IDLE_FETCH_WAIT_MS, platform.kafka_fetch_max_wait_ms)
        },
    )


def _now() -> datetime:
    return datetime.now(UTC)


async def init_app(
    settings: AvatarsSettings | None = None,
    *,
    bus: BusFactory = avatars_bus,
    clock: Clock = _now,
    sleep: Sleep | None = None,
    consume: bool = True,
) -> web.Application:
    """`consume=False` serves the HTTP API without running workflow steps (tests drive
    `Context.workflow` themselves)."""
    settings = settings or AvatarsSettings()
    app = create_app(
        "avatars",
        settings,
        bus=bus,
        store=True,
        topics=[AVATAR_UPLOADED.topic, AVATAR_MODERATED.topic, NOTIFICATION_REQUESTED.topic],
        http_client=True,
        middlewares=[admin.require_admin],
        identity_exempt=[admin.PREFIX],  # the operators' API: ADMIN_TOKEN, not a caller
    )
    app[AVATARS_SETTINGS] = settings
    app.cleanup_ctx.append(_core(clock, sleep, consume))
    for routes in (uploads.routes, blobs.routes, media.routes, page.routes, admin.routes, ROUTES):
        app.router.add_routes(routes)
    return app


def _core(
    clock: Clock, sleep: Sleep | None, consume: bool
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        settings, bus, store = app[AVATARS_SETTINGS], app[BUS], app[STORE]
        await store.ensure_indexes(INDEXES)
        db = store.db
        blob_store: BlobStore = await open_blob_store(settings, store)
        await blob_store.start()
        pool = CpuPool(settings.pool_workers, settings.moderator)
        await pool.start()
        announcer = Announcer(bus, settings.webpush_ttl_seconds)
        blocklist = Blocklist(db["avatar_blocklist"], settings.blocklist_max_distance)
        steps = Steps(settings, db, blob_store, pool, blocklist, announcer, clock)
        media_server = MediaServer(
            db[VERSIONS],
            blob_store,
            pool,
            settings.step_timeout_seconds,
            settings.allowed_size_set(),
        )
        steps.on_retire = media_server.forget
        uploads_repo = Uploads(db[UPLOADS])
        extra = {"sleep": sleep} if sleep is not None else {}
        workflow = Workflow(
            uploads_repo,
            steps,
            Leases(db["avatar_leases"], settings.lease_seconds, clock=clock),
            announcer,
            max_attempts=settings.step_max_attempts,
            backoff_seconds=settings.step_backoff_seconds,
            step_timeout=settings.step_timeout_seconds,
            lease_seconds=settings.lease_seconds,
            clock=clock,
            rng=random.Random(),
            **extra,
        )
        app[CONTEXT] = Context(
            settings=settings,
            db=db,
            bus=bus,
            uploads=uploads_repo,
            blobs=blob_store,
            pool=pool,
            blocklist=blocklist,
            announcer=announcer,
            workflow=workflow,
            media=media_server,
            clock=clock,
        )
        add_readiness(app, "blobs", blob_store.ping)
        consumers = [
            EventConsumer(
                bus,
                topics=[AVATAR_UPLOADED.topic],
                group_id=settings.consumer_group,
                handler=workflow.handle,
                retry=RetryPolicy(max_attempts=5, base_delay=0.5, max_delay=10.0),
                batch_size=4,
                service_name="avatars",
            )
            for _ in range(settings.workflow_consumers if consume else 0)
        ]
        await asyncio.gather(*(consumer.start() for consumer in consumers))
        app[CONSUMERS] = consumers
        if consumers:

            async def consuming() -> bool:
                return all(consumer.running for consumer in consumers)

            add_readiness(app, "workflow", consuming)
        try:
            yield
        finally:
            await asyncio.gather(*(consumer.stop() for consumer in consumers))
            await pool.close()
            await blob_store.close()

    return context
