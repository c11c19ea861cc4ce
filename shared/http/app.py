"""The aiohttp application factory every service starts from.

    app = create_app("gateway", settings, bus=True, store=True, topics=[...])
    app.cleanup_ctx.append(my_resource)   # service-specific resources after the shared ones

Every shared resource (HTTP client session, bus, store) is created and closed in `cleanup_ctx`,
in that order, and registered as a readiness check. Every request but /healthz, /readyz,
/metrics and `identity_exempt` prefixes needs a signed caller (shared/http/identity.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Middleware

from shared.bus.base import Bus
from shared.http import health, parsererrors
from shared.http.identity import IDENTITIES, Identities
from shared.http.keys import (
    BUS,
    HTTP_CLIENT,
    METRICS,
    READINESS,
    SERVICE_NAME,
    SETTINGS,
    STORE,
    ReadinessCheck,
)
from shared.http.metrics import Metrics
from shared.http.middleware import observe, stamp_request_id
from shared.settings import PlatformSettings, ServiceSettings
from shared.store import open_store

BusFactory = Callable[[PlatformSettings, str], Bus]


def kafka_bus(platform: PlatformSettings, service: str) -> Bus:
    from shared.bus.kafka import KafkaBus

    return KafkaBus(platform, client_id=f"{platform.kafka_client_id_prefix}-{service}")


def create_app(
    service: str,
    settings: ServiceSettings,
    *,
    bus: BusFactory | None = None,
    store: bool = False,
    topics: Sequence[str] = (),
    http_client: bool = False,
    middlewares: Sequence[Middleware] = (),
    handler_args: Mapping[str, Any] | None = None,
    identity_exempt: Sequence[str] = (),
    verify_identity: bool = True,
) -> web.Application:
    """`identity_exempt`: path prefixes answered without a signed caller (operator APIs behind
    ADMIN_TOKEN); `verify_identity=False` only for the gateway, which signs callers instead."""
    parsererrors.install()
    app = web.Application(
        middlewares=[observe, *middlewares],
        client_max_size=settings.max_request_bytes,
        # HTTP parser limits (line, header sizes); they win over the runner's arguments.
        handler_args=handler_args,
    )
    app[SERVICE_NAME] = service
    app[SETTINGS] = settings
    app[METRICS] = Metrics(service)
    app[READINESS] = {}
    # Built here, so a service without IDENTITY_KEYS refuses to start rather than refusing
    # every request.
    app[IDENTITIES] = Identities(
        settings.platform, service, exempt=identity_exempt, verify_requests=verify_identity
    )
    app.on_response_prepare.append(stamp_request_id)
    health.add_routes(app)
    if http_client:
        app.cleanup_ctx.append(_http_client)
    if bus is not None:
        app.cleanup_ctx.append(_bus_context(bus, topics))
    if store:
        app.cleanup_ctx.append(_store)
    return app


def add_readiness(app: web.Application, name: str, check: ReadinessCheck) -> None:
    app[READINESS][name] = check


async def _http_client(app: web.Application) -> AsyncIterator[None]:
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=256, keepalive_timeout=30)
    # No cookie jar: service-to-service calls carry no session cookies, and the gateway's
    # proxied answers must never leave one client's Set-Cookie in a jar shared by all clients
    # (it also spares a jar lookup per request).
    async with aiohttp.ClientSession(
        connector=connector, trust_env=False, cookie_jar=aiohttp.DummyCookieJar()
    ) as session:
        app[HTTP_CLIENT] = session
        yield


def _bus_context(
    factory: BusFactory, topics: Sequence[str]
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        platform = app[SETTINGS].platform
        bus = factory(platform, app[SERVICE_NAME])
        await bus.start()
        try:
            if topics:
                await bus.ensure_topics(topics)
            app[BUS] = bus
            add_readiness(app, "bus", bus.ping)
            yield
        finally:
            await bus.stop()

    return context


async def _store(app: web.Application) -> AsyncIterator[None]:
    store = await open_store(app[SETTINGS].platform, service=app[SERVICE_NAME])
    app[STORE] = store
    add_readiness(app, "store", store.ping)
    try:
        yield
    finally:
        await store.close()
