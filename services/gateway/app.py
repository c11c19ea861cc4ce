"""The gateway application: `init_app()` builds the public app, `init_admin(app)` the admin one."""

from __future__ import annotations

import asyncio
import logging
import signal
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor

from services.gateway.admin.app import init_admin_app
from services.gateway.components import COMPONENTS, indexes, open_components
from services.gateway.dataplane.pipeline import gateway
from services.gateway.dataplane.websocket import SOCKETS, close_all
from services.gateway.openapi import public as openapi
from services.gateway.routing.live import RouteTableError, Routing
from services.gateway.settings import GatewaySettings
from services.gateway.waf.engine import Waf
from services.gateway.waf.limits import Limits, server_handler_args
from shared.events.contracts.gateway import USAGE_REPORTED
from shared.http.app import BusFactory, create_app, kafka_bus
from shared.http.keys import BUS, HTTP_CLIENT, METRICS, STORE

CleanupContext = Callable[[web.Application], AsyncIterator[None]]
log = logging.getLogger("gateway")


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
        handler_args=server_args(settings),
    )
    # Built here so an invalid route table or WAF setting fails at once, not at start-up.
    routing, waf = Routing(settings), Waf(settings, registry=app[METRICS].registry)
    app[SOCKETS] = weakref.WeakSet()
    app.cleanup_ctx.append(_components(settings, routing, waf))
    app.cleanup_ctx.append(_reload_on_sighup)
    app.on_shutdown.append(close_all)
    app.router.add_get("/openapi.json", openapi.serve_public)  # before the catch-all
    app.router.add_route("*", "/{tail:.*}", gateway)
    return app


async def init_admin(public: web.Application) -> web.Application:
    return init_admin_app(public)


def server_args(settings: GatewaySettings) -> dict[str, Any]:
    """Parser limits for the public server, so oversize requests reach the WAF (see waf/limits)."""
    limits = Limits(
        max_url_bytes=settings.waf_max_url_bytes,
        max_header_bytes=settings.waf_max_header_bytes,
        max_headers=settings.waf_max_headers,
        max_body_bytes=settings.waf_max_body_bytes,
    )
    return dict(server_handler_args(limits))


def _components(settings: GatewaySettings, routing: Routing, waf: Waf) -> CleanupContext:
    async def context(app: web.Application) -> AsyncIterator[None]:
        # The proxy opens its own CLIENT span per upstream attempt (named by upstream, which
        # the service map uses); the generic aiohttp instrumentation would add a second one.
        AioHttpClientInstrumentor.uninstrument_session(app[HTTP_CLIENT])
        async with open_components(
            settings,
            db=app[STORE].db,
            bus=app[BUS],
            session=app[HTTP_CLIENT],
            registry=app[METRICS].registry,
            routing=routing,
            waf=waf,
        ) as components:
            await app[STORE].ensure_indexes(indexes(components))
            app[COMPONENTS] = components
            yield

    return context


async def _reload_on_sighup(app: web.Application) -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    routing = app[COMPONENTS].routing

    def reload() -> None:
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
