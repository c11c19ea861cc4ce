"""Typed application keys the shared runtime puts on every service's app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web

from shared.bus.base import Bus
from shared.http.metrics import Metrics
from shared.settings import ServiceSettings
from shared.store import Store

ReadinessCheck = Callable[[], Awaitable[bool]]

SETTINGS = web.AppKey("settings", ServiceSettings)
SERVICE_NAME = web.AppKey("service_name", str)
BUS = web.AppKey("bus", Bus)
STORE = web.AppKey("store", Store)
HTTP_CLIENT = web.AppKey("http_client", aiohttp.ClientSession)
METRICS = web.AppKey("metrics", Metrics)
READINESS = web.AppKey("readiness", dict[str, ReadinessCheck])

REQUEST_ID = web.RequestKey("request_id", str)
