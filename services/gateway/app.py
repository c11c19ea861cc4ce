"""The gateway application: `init_app()` builds the public app, `init_admin(app)` the admin one."""

from __future__ import annotations

import asyncio
import logging
import signal
import weakref
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor

from services.gateway import keys, openapi
from services.gateway.admin import init_admin_app
from services.gateway.apikeys import ApiKeyStore
from services.gateway.limits import Limiter
from services.gateway.metering import Metering
from services.gateway.plans import PlanStore
from services.gateway.quotas import Quotas
from services.gateway.routing import RouteTableError, Routing
from services.gateway.settings import GatewaySettings
from services.gateway.views import gateway
from services.gateway.waf.engine import Waf
from services.gateway.waf.limits import Limits, server_handler_args
from services.gateway.websocket import SOCKETS, close_all
from services.gateway.zonebearer import ZoneAuthenticator
from services.gateway.zones import WAITINGROOM, Gatekeeper
from shared.events.contracts.gateway import USAGE_REPORTED
from shared.http.app import BusFactory, create_app, kafka_bus
from shared.http.identity import IDENTITIES
from shared.http.keys import BUS, HTTP_CLIENT, METRICS, STORE
from shared.security import JwtVerifier
from shared.security.networks import parse_networks

log = logging.getLogger("gateway")

# The admin app serves these objects of the public app.
ADMIN_SHARED: tuple[web.AppKey[Any], ...] = (
    keys.GATEWAY_SETTINGS,
    keys.ROUTING,
    keys.WAF,
    keys.API_KEYS,
    keys.PLANS,
    keys.METERING,
    keys.LIMITER,
)


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
        verify_identity=False,  # the edge: it authenticates clients and signs who they are
    )
    app[keys.GATEWAY_SETTINGS] = settings
    app[keys.TRUSTED_PROXIES] = parse_networks(settings.trusted_proxies)
    app[keys.ROUTING] = Routing(settings)
    app[keys.WAF] = Waf(settings, registry=app[METRICS].registry)
    app[SOCKETS] = weakref.WeakSet()
    app.cleanup_ctx.append(_components)
    app.cleanup_ctx.append(_reload_on_sighup)
    app.on_shutdown.append(close_all)
    app.router.add_get("/openapi.json", openapi.serve_public)  # before the catch-all
    app.router.add_route("*", "/{tail:.*}", gateway)
    return app


async def init_admin(public: web.Application) -> web.Application:
    return init_admin_app(public, ADMIN_SHARED)


def server_args(settings: GatewaySettings) -> dict[str, Any]:
    """Parser limits for the public server, so oversize requests reach the WAF (see waf/limits)."""
    limits = Limits(
        max_url_bytes=settings.waf_max_url_bytes,
        max_header_bytes=settings.waf_max_header_bytes,
        max_headers=settings.waf_max_headers,
        max_body_bytes=settings.waf_max_body_bytes,
    )
    return dict(server_handler_args(limits))


async def _components(app: web.Application) -> AsyncIterator[None]:
    # The proxy opens its own CLIENT span per upstream attempt (named by upstream, which the
    # service map uses); the generic aiohttp instrumentation would add a second one per request.
    AioHttpClientInstrumentor.uninstrument_session(app[HTTP_CLIENT])
    settings = app[keys.GATEWAY_SETTINGS]
    db = app[STORE].db
    registry = app[METRICS].registry
    api_keys = ApiKeyStore(
        db["api_keys"],
        cache_seconds=settings.api_key_cache_seconds,
        cache_size=settings.api_key_cache_size,
    )
    plans = PlanStore(db["plans"], cache_seconds=settings.plan_cache_seconds)
    quotas = Quotas(db["quota_usage"], max_keys=settings.quota_max_keys)
    metering = Metering(
        db["usage"],
        app[BUS],
        flush_seconds=settings.usage_flush_seconds,
        registry=registry,
        quotas=quotas,
    )
    await app[STORE].ensure_indexes(
        {**api_keys.indexes(), **plans.indexes(), **quotas.indexes(), **metering.indexes()}
    )
    platform = settings.platform
    verifier = None
    if platform.auth_jwt_secret is not None or platform.auth_jwks_url:
        verifier = JwtVerifier(platform, session=app[HTTP_CLIENT])
    app[keys.API_KEYS] = api_keys
    app[keys.PLANS] = plans
    app[keys.AUTH] = ZoneAuthenticator(
        settings, verifier=verifier, api_keys=api_keys, registry=registry
    )
    identities = app[IDENTITIES]
    gatekeeper = Gatekeeper(
        settings.waitingroom_jwks_url,
        session=app[HTTP_CLIENT],
        identity=lambda: identities.as_service(WAITINGROOM),
        registry=registry,
    )
    app[keys.ZONES] = gatekeeper
    app[keys.LIMITER] = Limiter(
        settings, plans=plans, registry=registry, workers=settings.workers, quotas=quotas
    )
    app[keys.METERING] = metering
    await metering.start()
    try:
        yield
    finally:
        await metering.stop()
        await gatekeeper.close()
        if verifier is not None:
            await verifier.close()


async def _reload_on_sighup(app: web.Application) -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    routing = app[keys.ROUTING]

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
