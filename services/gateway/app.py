"""The gateway: `init_app()` builds its core (store, bus, HTTP client and the `Components`),
`serve_public(app, ...)` the public data plane over it, `init_admin(app)` the admin app.

The core is an aiohttp application that is set up (its cleanup contexts run) but not served:
the public port is the data plane's (uvloop protocols + llhttp, dataplane/), the admin port an
aiohttp app sharing the same `Components`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor

from services.gateway.admin.app import init_admin_app
from services.gateway.components import COMPONENTS, indexes, open_components
from services.gateway.dataplane.clientip import resolve
from services.gateway.dataplane.framing import FramingError, FramingLimits, Head
from services.gateway.dataplane.local import local_routes
from services.gateway.dataplane.pipeline import Pipeline
from services.gateway.dataplane.server import Plane
from services.gateway.request import ClientInfo
from services.gateway.routing.live import RouteTableError, Routing
from services.gateway.settings import GatewaySettings
from services.gateway.waf.engine import Waf
from shared.events.contracts.gateway import USAGE_REPORTED
from shared.http.app import BusFactory, create_app, kafka_bus
from shared.http.identity import IDENTITIES
from shared.http.keys import BUS, HTTP_CLIENT, METRICS, STORE

log = logging.getLogger("gateway")
CleanupContext = Callable[[web.Application], AsyncIterator[None]]


async def init_app(
    settings: GatewaySettings | None = None, *, bus: BusFactory = kafka_bus
) -> web.Application:
    settings = settings or GatewaySettings()
    app = create_app(
        "gateway",
        settings,
        bus=bus,
        store=True,
        topics=[USAGE_REPORTED.topic],
        http_client=True,
        verify_identity=False,  # the edge: it authenticates clients and signs who they are
    )
    # Built here so an invalid route table or WAF setting fails at once, not at start-up.
    routing, waf = Routing(settings), Waf(settings, registry=app[METRICS].registry)
    app.cleanup_ctx.append(_components(settings, routing, waf))
    app.cleanup_ctx.append(_reload_on_sighup)
    return app


async def init_admin(public: web.Application) -> web.Application:
    return init_admin_app(public)


def framing_limits(settings: GatewaySettings) -> FramingLimits:
    return FramingLimits(
        max_target_bytes=settings.waf_max_url_bytes,
        max_header_bytes=settings.waf_max_header_bytes,
        max_headers=settings.waf_max_headers,
    )


def build_plane(app: web.Application) -> Plane:
    """The public data plane over a set-up core app (its Components exist)."""
    parts = app[COMPONENTS]
    pipeline = Pipeline(parts, app[METRICS], local_routes(app))
    trusted = parts.trusted_proxies
    waf = parts.waf

    def client(peer: str, head: Head, secure: bool) -> ClientInfo:
        return resolve(peer, head.raw_headers, trusted, secure=secure)

    def refused(peer: str, exc: FramingError) -> None:
        if exc.rule_id is not None:  # a size limit: counted and logged as the WAF's
            waf.journal.record_refusal(peer, exc.rule_id, exc.status)
        else:
            log.info("refused a malformed request from %s: %s", peer, exc.detail)

    plane = Plane(pipeline, limits=framing_limits(parts.settings), resolve=client, refused=refused)
    plane.on_sweep.append(pipeline.sweep)
    plane.on_stop.append(pipeline.close)
    return plane


async def serve_public(
    app: web.Application, host: str, port: int, *, reuse_port: bool = False
) -> Plane:
    plane = build_plane(app)
    await plane.listen(host, port, reuse_port=reuse_port)
    return plane


def _components(settings: GatewaySettings, routing: Routing, waf: Waf) -> CleanupContext:
    async def context(app: web.Application) -> AsyncIterator[None]:
        # The JWKS and waiting-room calls need no CLIENT span per request of their own.
        AioHttpClientInstrumentor.uninstrument_session(app[HTTP_CLIENT])
        async with open_components(
            settings,
            db=app[STORE].db,
            bus=app[BUS],
            session=app[HTTP_CLIENT],
            registry=app[METRICS].registry,
            identities=app[IDENTITIES],
            routing=routing,
            waf=waf,
        ) as components:
            await app[STORE].ensure_indexes(indexes(components))
            app[COMPONENTS] = components
            yield

    return context


async def _reload_on_sighup(app: web.Application) -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()

    def reload() -> None:
        routing = app[COMPONENTS].routing
        try:
            routing.reload()
        except RouteTableError as exc:
            log.error("SIGHUP reload refused, keeping route table v%d: %s", routing.version, exc)

    try:
        loop.add_signal_handler(signal.SIGHUP, reload)
    except (RuntimeError, NotImplementedError, ValueError):  # not the main thread: no signals
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
