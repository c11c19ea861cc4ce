"""The waiting room application (port WAITINGROOM_PORT): visitors' API, token API, JWKS and,
behind ADMIN_TOKEN, the zones admin API, all under /waitingroom/. Every request but the admin
API's needs a signed caller (shared/http/identity.py): visitors are the gateway's signed-in
users, the verify API and JWKS answer the gateway itself, `complete` also the shop.

Start order: bus, store, HTTP client (shared contexts) -> core: the zone-log topic, the signing
key, the follower replaying the whole log (readiness waits for it), then the push publisher,
the controller group membership and the admission loop. Stop runs it backwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from services.waitingroom import access, admin, page, visitors
from services.waitingroom.controller import Controller, Ticker
from services.waitingroom.follower import Follower
from services.waitingroom.keys import CONTEXT, WAITINGROOM_SETTINGS, Context
from services.waitingroom.metrics import WaitingroomMetrics, gauges
from services.waitingroom.ownership import Ownership
from services.waitingroom.push import Push
from services.waitingroom.reader import LogReader
from services.waitingroom.room import Room
from services.waitingroom.settings import WaitingroomSettings
from services.waitingroom.summary import metrics as zone_metrics
from services.waitingroom.tokens import Tokens, load_signing_key
from services.waitingroom.zonelog import Clock, ZoneLog
from shared.bus.base import Bus
from shared.bus.logreader import KafkaLogReader, MemoryLogReader, create_log_topic
from shared.bus.memory import MemoryBus
from shared.events.contracts.notifier import NOTIFICATION_REQUESTED
from shared.events.contracts.waitingroom import ZONE_LOGGED, ZONE_METRICS
from shared.http.app import BusFactory, add_readiness, create_app, kafka_bus
from shared.http.keys import BUS, METRICS, STORE

CONTROLLER = web.AppKey("waitingroom_controller", Controller)
OWNERSHIP = web.AppKey("waitingroom_ownership", Ownership)
PUSH = web.AppKey("waitingroom_push", Push)


async def init_app(
    settings: WaitingroomSettings | None = None,
    *,
    bus: BusFactory = kafka_bus,
    clock: Clock = time.time,
    ticker: Ticker | None = None,
) -> web.Application:
    """`ticker` paces admission (default: every WAITINGROOM_TICK_SECONDS); tests inject one."""
    settings = settings or WaitingroomSettings()
    app = create_app(
        "waitingroom",
        settings,
        bus=bus,
        store=True,
        topics=[ZONE_METRICS.topic, NOTIFICATION_REQUESTED.topic],
        http_client=True,
        middlewares=[admin.require_admin],
        identity_exempt=[admin.PREFIX],  # the operators' API: ADMIN_TOKEN, not a caller
    )
    app[WAITINGROOM_SETTINGS] = settings
    app.cleanup_ctx.append(_core(clock, ticker or _sleeper(settings.tick_seconds)))
    for routes in (visitors.routes, access.routes, admin.routes, page.routes):
        app.router.add_routes(routes)
    return app


def _sleeper(seconds: float) -> Ticker:
    async def tick() -> None:
        await asyncio.sleep(seconds)

    return tick


async def _reader(bus: Bus, settings: WaitingroomSettings) -> LogReader:
    platform = settings.platform
    if isinstance(bus, MemoryBus):
        await bus.ensure_topics([ZONE_LOGGED.topic])
        return MemoryLogReader(bus, [ZONE_LOGGED.topic])
    client_id = f"{platform.kafka_client_id_prefix}-waitingroom-{settings.replica_id}"
    await create_log_topic(platform, ZONE_LOGGED.topic, client_id)
    # Large batches: admission waits on this replay (the fetch wait is KAFKA_FETCH_MAX_WAIT_MS).
    return KafkaLogReader(platform, [ZONE_LOGGED.topic], client_id, max_records=5000)


def _core(clock: Clock, ticker: Ticker) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        settings, bus = app[WAITINGROOM_SETTINGS], app[BUS]
        secret = settings.signing_key.get_secret_value() if settings.signing_key else None
        key = await load_signing_key(secret, app[STORE].db["waitingroom_keys"])
        room = Room(settings.replica_id)
        zlog = ZoneLog(
            bus, room, clock, source="waitingroom", apply_timeout=settings.apply_timeout_seconds
        )
        follower = Follower(await _reader(bus, settings), room)
        ownership = Ownership(bus, ZONE_LOGGED.topic)
        push = Push(bus, ownership.owns, source="waitingroom")
        metrics = WaitingroomMetrics(app[METRICS].registry)

        def on_notes(zone, notes):  # type: ignore[no-untyped-def]
            metrics.observe(zone, notes)
            push.from_log(zone, notes)

        room.on_notes = on_notes
        controller = Controller(
            zlog,
            follower,
            ownership,
            clock,
            notes=push.notes,
            expiring_soon=settings.expiring_soon_seconds,
            position_budget=max(
                1, math.ceil(settings.position_pushes_per_second * settings.tick_seconds)
            ),
        )
        app[CONTEXT] = Context(
            settings,
            room,
            zlog,
            Tokens(key, clock),
            clock,
        )
        app[CONTROLLER], app[OWNERSHIP], app[PUSH] = controller, ownership, push
        app[METRICS].add_collector(gauges(room, clock))

        async def ready() -> bool:
            return follower.running and follower.caught_up.is_set()

        add_readiness(app, "zone-log", ready)
        await follower.start()
        await push.start()
        await ownership.start()
        tasks = [
            asyncio.create_task(controller.run(ticker), name="waitingroom-controller"),
            asyncio.create_task(_report(app, settings.metrics_seconds), name="waitingroom-report"),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await ownership.stop()
            await push.stop()
            await follower.stop()

    return context


async def _report(app: web.Application, every: float) -> None:
    """The owner of each zone publishes its summary as an event every `every` seconds."""
    ctx, ownership, bus = app[CONTEXT], app[OWNERSHIP], app[BUS]
    while True:
        await asyncio.sleep(every)
        for zone in list(ctx.room.zones.values()):
            if ownership.owns(zone.partition):
                with contextlib.suppress(Exception):
                    event = ZONE_METRICS.new(zone_metrics(zone, ctx.clock()), source="waitingroom")
                    await bus.publish(ZONE_METRICS, event)
