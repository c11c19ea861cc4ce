"""Typed keys for the notifier's application state."""

from __future__ import annotations

from aiohttp import web

from services.notifier.ingest import Ingest
from services.notifier.metrics import NotifierMetrics
from services.notifier.presence import Presence
from services.notifier.server import WsServer
from services.notifier.session import Context
from services.notifier.settings import NotifierSettings
from shared.jobs import Jobs

NOTIFIER_SETTINGS = web.AppKey("notifier_settings", NotifierSettings)
CONTEXT = web.AppKey("notifier_context", Context)
METRICS = web.AppKey("notifier_metrics", NotifierMetrics)
PRESENCE = web.AppKey("notifier_presence", Presence)
INGEST = web.AppKey("notifier_ingest", Ingest)
JOBS = web.AppKey("notifier_jobs", Jobs)
WS_SERVER = web.AppKey("notifier_ws_server", WsServer)
