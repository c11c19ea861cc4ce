"""Everything the gateway's pipeline and admin API share: one `Components` object, one AppKey.

`open_components` builds them once the store, bus and HTTP client are open (the core app's
cleanup context) and closes them on the way out; the public data plane and the admin app both
read `app[COMPONENTS]`, so what an operator changes through the admin port is what the public
port serves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from services.gateway.auth.apikeys import ApiKeyStore
from services.gateway.auth.authenticator import Authenticator
from services.gateway.auth.zones import WAITINGROOM, Gatekeeper
from services.gateway.limits.limiter import Limiter
from services.gateway.limits.metering import Metering
from services.gateway.limits.plans import PlanStore
from services.gateway.limits.quotas import Quotas
from services.gateway.routing.live import Routing
from services.gateway.settings import GatewaySettings
from services.gateway.waf.engine import Waf
from shared.bus.base import Bus
from shared.http.identity import Identities
from shared.security import JwtVerifier
from shared.security.networks import Network, parse_networks


@dataclass(eq=False)
class Components:
    settings: GatewaySettings
    trusted_proxies: tuple[Network, ...]
    routing: Routing
    waf: Waf
    api_keys: ApiKeyStore
    plans: PlanStore
    auth: Authenticator
    zones: Gatekeeper
    limiter: Limiter
    metering: Metering
    registry: CollectorRegistry
    identities: Identities  # signs who is calling for each upstream (X-Surge-Identity)


COMPONENTS = web.AppKey("gateway_components", Components)


@asynccontextmanager
async def open_components(
    settings: GatewaySettings,
    *,
    db: Any,
    bus: Bus | None,
    session: aiohttp.ClientSession,
    registry: CollectorRegistry,
    identities: Identities,
    routing: Routing | None = None,
    waf: Waf | None = None,
) -> AsyncIterator[Components]:
    """The gateway's parts over an open database, bus and HTTP client; metering runs while the
    context is open and flushes once more when it closes."""
    api_keys = ApiKeyStore(
        db["api_keys"],
        cache_seconds=settings.api_key_cache_seconds,
        cache_size=settings.api_key_cache_size,
    )
    plans = PlanStore(db["plans"], cache_seconds=settings.plan_cache_seconds)
    quotas = Quotas(db["quota_usage"], max_keys=settings.quota_max_keys)
    metering = Metering(
        db["usage"],
        bus,
        flush_seconds=settings.usage_flush_seconds,
        registry=registry,
        quotas=quotas,
    )
    platform = settings.platform
    verifier = None
    if platform.auth_jwt_secret is not None or platform.auth_jwks_url:
        verifier = JwtVerifier(platform, session=session)
    gatekeeper = Gatekeeper(
        settings.waitingroom_jwks_url,
        session=session,
        identity=lambda: identities.as_service(WAITINGROOM),
        registry=registry,
    )
    components = Components(
        settings=settings,
        trusted_proxies=parse_networks(settings.trusted_proxies),
        routing=routing or Routing(settings),
        waf=waf or Waf(settings, registry=registry),
        api_keys=api_keys,
        plans=plans,
        auth=Authenticator(verifier=verifier, api_keys=api_keys, registry=registry),
        zones=gatekeeper,
        limiter=Limiter(
            settings, plans=plans, registry=registry, workers=settings.workers, quotas=quotas
        ),
        metering=metering,
        registry=registry,
        identities=identities,
    )
    await metering.start()
    try:
        yield components
    finally:
        await metering.stop()
        await gatekeeper.close()
        if verifier is not None:
            await verifier.close()


def indexes(components: Components) -> dict[str, Any]:
    """Every collection's indexes, for `Store.ensure_indexes`."""
    return {
        **components.api_keys.indexes(),
        **components.plans.indexes(),
        **components.limiter.quotas.indexes(),
        **components.metering.indexes(),
    }
