"""Typed keys for the gateway's application state."""

from __future__ import annotations

from aiohttp import web

from services.gateway.apikeys import ApiKeyStore
from services.gateway.auth import Authenticator
from services.gateway.limits import Limiter
from services.gateway.metering import Metering
from services.gateway.plans import PlanStore
from services.gateway.routing import Routing
from services.gateway.settings import GatewaySettings
from services.gateway.waf.engine import Waf
from services.gateway.zones import Gatekeeper
from shared.security.networks import Network

GATEWAY_SETTINGS = web.AppKey("gateway_settings", GatewaySettings)
ROUTING = web.AppKey("routing", Routing)
TRUSTED_PROXIES = web.AppKey("trusted_proxies", tuple[Network, ...])
WAF = web.AppKey("waf", Waf)
AUTH = web.AppKey("auth", Authenticator)
LIMITER = web.AppKey("limiter", Limiter)
API_KEYS = web.AppKey("api_keys", ApiKeyStore)
PLANS = web.AppKey("plans", PlanStore)
METERING = web.AppKey("metering", Metering)
ZONES = web.AppKey("zones", Gatekeeper)
