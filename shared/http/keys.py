"""Typed application keys the shared runtime puts on every service's app."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from shared.bus.base import Bus
from shared.settings import ServiceSettings

SETTINGS = web.AppKey("settings", ServiceSettings)
SERVICE_NAME = web.AppKey("service_name", str)
BUS = web.AppKey("bus", Bus)
HTTP_CLIENT = web.AppKey("http_client", aiohttp.ClientSession)
# STORE and METRICS are added with shared.store / shared.http.metrics.
