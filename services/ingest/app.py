"""The ingest application (port INGEST_PORT): the collector under /t/, the live page under
/t/live/, the programs admin API under /ingest/admin/ (ADMIN_TOKEN), and the consumers named in
INGEST_CONSUMERS (persister, attribution, live figures).

Start order: bus, store (shared contexts) -> core: indexes, the L1 cache and the follower of
`programs.changes` (readiness waits for its replay), the sink -> consumers. Stop runs backwards.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from services.ingest import live
from services.ingest.collect import batch, pixel
from services.ingest.collect.enrich import Enricher
from services.ingest.collect.lookup import program_for
from services.ingest.collect.sink import Sink
from services.ingest.consume import attribution, persister
from services.ingest.consume.live import LiveFigures
from services.ingest.keys import CONTEXT, INGEST_SETTINGS, Context
from services.ingest.metrics import IngestMetrics
from services.ingest.programs import admin
from services.ingest.programs.cache import ProgramCache
from services.ingest.programs.changes import ChangeFollower, open_reader
from services.ingest.programs.store import COLLECTION, ProgramStore
from services.ingest.settings import IngestSettings
from shared.bus.base import Bus
from shared.bus.kafka import KafkaBus
from shared.consumer.batch import BatchConsumer
from shared.events.contracts.ingest import ATTRIBUTED, BAD_ROW, TRACKING_EVENT, ProgramChanged
from shared.events.contracts.notifier import NOTIFICATION_REQUESTED
from shared.http.app import BusFactory, add_readiness, create_app
from shared.http.consumers import attach_consumer
from shared.http.keys import BUS, METRICS, STORE
from shared.security.networks import parse_networks
from shared.settings import PlatformSettings

Clock = Callable[[], float]
TOPICS = [TRACKING_EVENT.topic, BAD_ROW.topic, ATTRIBUTED.topic, NOTIFICATION_REQUESTED.topic]
LIVE = web.AppKey("ingest_live", LiveFigures)


def ingest_bus(settings: IngestSettings) -> BusFactory:
    """The platform's Kafka bus, with batches large enough for a hot program's partition."""

    def factory(platform: PlatformSettings, service: str) -> Bus:
        return KafkaBus(
            platform,
            client_id=service,
            linger_ms=0,  # the sink gathers concurrent hits itself (collect/sink.py)
            # One program's hits share a partition, which has one request in flight at a time:
            # a batch must hold every hit that arrived during a round trip, not 16 KiB of them.
            producer_options={
                "max_batch_size": settings.producer_batch_bytes,
                "compression_type": "lz4",  # a fraction of gzip's CPU per batch
            },
        )

    return factory


async def init_app(
    settings: IngestSettings | None = None,
    *,
    bus: BusFactory | None = None,
    clock: Clock = time.time,
    cache_clock: Clock = time.monotonic,
) -> web.Application:
    settings = settings or IngestSettings()
    consumers = settings.consumer_set()
    app = create_app(
        "ingest",
        settings,
        bus=bus or ingest_bus(settings),
        store=True,
        topics=TOPICS,
        # The operators' API (ADMIN_TOKEN), and the pixel and redirect: anonymous by nature,
        # and reached without the gateway when a high-volume deployment gives the collector
        # its own ingress (docs/ingest.md). Everything else needs a signed caller.
        identity_exempt=[admin.PREFIX, *pixel.ANONYMOUS_PATHS],
    )
    app[INGEST_SETTINGS] = settings
    app.cleanup_ctx.append(_core(clock, cache_clock))
    for routes in (pixel.routes, batch.routes, admin.routes, live.routes):
        app.router.add_routes(routes)
    prefix = settings.consumer_group_prefix
    if "persist" in consumers:

        def persisting(app: web.Application) -> BatchConsumer:
            handler = persister.Persister(app[STORE].db[persister.COLLECTION])
            app[CONTEXT].metrics.watch_persister(handler)
            return BatchConsumer(
                app[BUS],
                topics=[TRACKING_EVENT.topic],
                group_id=f"{prefix}-persister",
                handle_batch=handler,
                batch_size=settings.persist_batch_size,
                service_name="ingest",
            )

        attach_consumer(app, persisting)
    if "attribute" in consumers:
        attach_consumer(
            app,
            lambda app: BatchConsumer(
                app[BUS],
                topics=[TRACKING_EVENT.topic],
                group_id=f"{prefix}-attribution",
                handle_batch=attribution.Attributor(
                    app[STORE].db, app[BUS], lambda pid: program_for(app[CONTEXT], pid)
                ),
                service_name="ingest",
            ),
        )
    if "live" in consumers:
        app.cleanup_ctx.append(_live)
        attach_consumer(
            app,
            lambda app: BatchConsumer(
                app[BUS],
                topics=[TRACKING_EVENT.topic, BAD_ROW.topic],
                group_id=f"{prefix}-live",
                handle_batch=app[LIVE],
                service_name="ingest",
            ),
        )
    return app


def _core(clock: Clock, cache_clock: Clock) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        settings, bus, store = app[INGEST_SETTINGS], app[BUS], app[STORE]
        await store.ensure_indexes(
            {
                persister.COLLECTION: persister.indexes(settings.retention_seconds),
                **attribution.indexes(),
            }
        )
        platform = settings.platform
        programs = ProgramStore(store.db[COLLECTION], clock)
        cache = ProgramCache(
            programs.get,
            size=settings.cache_size,
            ttl=settings.cache_ttl_seconds,
            negative_ttl=settings.negative_ttl_seconds,
            clock=cache_clock,
        )
        metrics = IngestMetrics(app[METRICS])
        trusted = parse_networks(settings.trusted_proxies)
        sink = Sink(
            bus,
            capacity=settings.buffer_max,
            timeout=settings.publish_timeout_seconds,
            observe=metrics.publish_seconds.observe,
        )
        ctx = Context(
            settings=settings,
            bus=bus,
            programs=programs,
            cache=cache,
            sink=sink,
            enricher=Enricher(trusted, settings.cookie_name),
            metrics=metrics,
            clock=clock,
        )
        app[CONTEXT] = ctx
        metrics.watch(cache, lambda: sink.waiting)

        def applied(change: ProgramChanged, at: float) -> None:
            ctx.remember_applied(change.id, change.version, at)

        client_id = f"{platform.kafka_client_id_prefix}-ingest-programs"
        follower = ChangeFollower(await open_reader(bus, platform, client_id), cache, applied)

        async def ready() -> bool:
            return follower.running and follower.caught_up.is_set()

        add_readiness(app, "programs", ready)
        await follower.start()
        try:
            yield
        finally:
            await sink.close()
            await follower.stop()

    return context


async def _live(app: web.Application) -> AsyncIterator[None]:
    settings = app[INGEST_SETTINGS]
    figures = LiveFigures(
        app[BUS], lambda pid: program_for(app[CONTEXT], pid), settings.live_interval_seconds
    )
    app[LIVE] = figures
    await figures.start()
    try:
        yield
    finally:
        await figures.stop()
