"""The notifier application: `init_app()` builds the HTTP app (port NOTIFIER_PORT) whose
lifecycle also runs the WebSocket server (NOTIFIER_WS_PORT), the fan-out reader, presence, the
`notifier` ingest group and the demo jobs worker.

Start order (cleanup contexts): bus -> store and HTTP client -> core (history, hub, presence,
fan-out caught up) -> consumers -> Web Push -> WebSocket server. Stop runs it backwards: the
sockets close first with 1001, then consumers commit and leave, then the bus closes. The store
and HTTP client are opened in `init_app` (not in a cleanup context) because Web Push needs them
to build its routes before the router freezes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web

from services.notifier import api, jobs_api, keys
from services.notifier.channels import Access, public_patterns
from services.notifier.erasure import Erasure
from services.notifier.fanout import Fanout
from services.notifier.history import History
from services.notifier.hub import Hub
from services.notifier.ingest import Ingest
from services.notifier.metrics import NotifierMetrics, gauges
from services.notifier.presence import Presence
from services.notifier.reader import LogReader
from services.notifier.server import WsServer
from services.notifier.session import Context
from services.notifier.settings import NotifierSettings
from services.notifier.webpush_hook import attach_webpush
from services.notifier.worker import DigestWorker
from shared.bus.base import Bus
from shared.bus.logreader import KafkaLogReader, MemoryLogReader
from shared.bus.memory import MemoryBus
from shared.consumer import EventConsumer, IdempotencyGuard
from shared.events.contracts.accounts import ACCOUNT_DELETED
from shared.events.contracts.jobs import JOB_REQUESTED
from shared.events.contracts.notifier import NOTIFICATION_REQUESTED, PRESENCE_CHANGED, PUBLICATION
from shared.http.app import BusFactory, add_readiness, create_app, kafka_bus
from shared.http.consumers import attach_consumer
from shared.http.identity import IDENTITIES
from shared.http.keys import BUS, HTTP_CLIENT, METRICS, STORE
from shared.jobs import Jobs
from shared.security import JwtVerifier
from shared.security.networks import parse_networks
from shared.store import Store, open_store

TOPICS = (
    NOTIFICATION_REQUESTED.topic,
    PUBLICATION.topic,
    PRESENCE_CHANGED.topic,
    JOB_REQUESTED.topic,
    ACCOUNT_DELETED.topic,
)
GUARD_TTL_SECONDS = 7 * 24 * 3600
_Context = Callable[[web.Application], AsyncIterator[None]]


async def init_app(
    settings: NotifierSettings | None = None, *, bus: BusFactory = kafka_bus
) -> web.Application:
    settings = settings or NotifierSettings()
    app = create_app("notifier", settings, bus=bus, topics=TOPICS)
    app[keys.NOTIFIER_SETTINGS] = settings
    app[keys.METRICS] = NotifierMetrics(app[METRICS].registry)
    store = await open_store(settings.platform, service="notifier")
    connector = aiohttp.TCPConnector(limit=256, keepalive_timeout=30)
    session = aiohttp.ClientSession(connector=connector, trust_env=False)
    app[STORE], app[HTTP_CLIENT] = store, session
    add_readiness(app, "store", store.ping)
    app.cleanup_ctx.append(_resources(store, session))
    app.cleanup_ctx.append(_core)
    attach_consumer(app, _ingest_consumer)
    attach_consumer(app, _jobs_consumer)
    attach_consumer(app, _erasure_consumer)
    attach_webpush(app, settings, store, session)
    app.cleanup_ctx.append(_websocket)
    app.router.add_routes(api.routes)
    app.router.add_routes(jobs_api.routes)
    return app


def _resources(store: Store, session: aiohttp.ClientSession) -> _Context:
    async def context(_app: web.Application) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await session.close()
            await store.close()

    return context


def _reader(bus: Bus, settings: NotifierSettings) -> LogReader:
    topics = [PUBLICATION.topic, PRESENCE_CHANGED.topic]
    if isinstance(bus, MemoryBus):
        return MemoryLogReader(bus, topics)
    client_id = f"{settings.platform.kafka_client_id_prefix}-notifier-{settings.replica_id}"
    return KafkaLogReader(settings.platform, topics, client_id)


async def _core(app: web.Application) -> AsyncIterator[None]:
    settings, metrics, bus = app[keys.NOTIFIER_SETTINGS], app[keys.METRICS], app[BUS]
    verifier = JwtVerifier(settings.platform, session=app[HTTP_CLIENT])
    jobs = Jobs(app[STORE].db["jobs"], bus, source="notifier")
    await app[STORE].ensure_indexes(jobs.indexes())
    presence = Presence(bus, settings.replica_id, settings.presence_heartbeat_seconds)
    history = History(settings.history_size, settings.history_ttl_seconds, settings.history_epoch)
    hub = Hub(
        send_queue_bytes=settings.send_queue_bytes,
        on_slow=metrics.slow_consumers.inc,
        on_user_count=presence.changed,
    )
    fanout = Fanout(_reader(bus, settings), history, hub, metrics, presence.apply)
    app[keys.JOBS], app[keys.PRESENCE] = jobs, presence
    app[keys.INGEST] = Ingest(bus, presence, metrics.notifications.inc)
    access = Access(jobs.owner, public=public_patterns(settings.public_channels))
    app[keys.CONTEXT] = Context(settings, verifier, access, hub, history, fanout, metrics)
    app[METRICS].add_collector(gauges(hub, history))
    await fanout.start()
    await presence.start()

    async def ready() -> bool:
        return fanout.running and fanout.caught_up.is_set()

    add_readiness(app, "fanout", ready)
    try:
        yield
    finally:
        await presence.stop()
        await fanout.stop()
        await verifier.close()


def _ingest_consumer(app: web.Application) -> EventConsumer:
    guard = IdempotencyGuard.for_store(app[STORE], "processed_events", GUARD_TTL_SECONDS)
    return EventConsumer(
        app[BUS],
        topics=[NOTIFICATION_REQUESTED.topic],
        group_id=app[keys.NOTIFIER_SETTINGS].consumer_group_prefix,
        handler=app[keys.INGEST].handle,
        guard=guard,
        service_name="notifier",
    )


def _jobs_consumer(app: web.Application) -> EventConsumer:
    worker = DigestWorker(app[keys.JOBS], app[keys.NOTIFIER_SETTINGS].jobs_digest_delay_seconds)
    return EventConsumer(
        app[BUS],
        topics=[JOB_REQUESTED.topic],
        group_id=f"{app[keys.NOTIFIER_SETTINGS].consumer_group_prefix}-jobs",
        handler=worker.handle,
        service_name="notifier",
    )


def _erasure_consumer(app: web.Application) -> EventConsumer:
    """`accounts.deleted`: drop the subject's push subscriptions (services/notifier/erasure)."""
    guard = IdempotencyGuard.for_store(app[STORE], "processed_events", GUARD_TTL_SECONDS)
    return EventConsumer(
        app[BUS],
        topics=[ACCOUNT_DELETED.topic],
        group_id=f"{app[keys.NOTIFIER_SETTINGS].consumer_group_prefix}-accounts",
        handler=Erasure(app[STORE]).handle,
        guard=guard,
        service_name="notifier",
    )


async def _websocket(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.NOTIFIER_SETTINGS]
    server = WsServer(
        app[keys.CONTEXT],
        app[IDENTITIES].verifier,
        parse_networks(settings.trusted_proxies),
        settings.replica_id,
    )
    await server.start()
    app[keys.WS_SERVER] = server
    try:
        yield
    finally:
        await server.stop()
