"""Wiring of Web Push (services/notifier/webpush): built with the app, because its routes must
be on the router before the app starts, started and stopped with the app, and handed to the
ingest consumer, which calls `notify_user` when a notification asks for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from services.notifier.keys import INGEST
from services.notifier.settings import NotifierSettings
from services.notifier.webpush import WebPush
from shared.store import Store

WEBPUSH = web.AppKey("notifier_webpush", WebPush)


def attach_webpush(
    app: web.Application, settings: NotifierSettings, store: Store, session: aiohttp.ClientSession
) -> WebPush:
    from shared.http.keys import METRICS

    webpush = WebPush(settings, store, session, app[METRICS].registry)
    app[WEBPUSH] = webpush
    app.router.add_routes(webpush.routes)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await webpush.start()
        app[INGEST].webpush = webpush
        try:
            yield
        finally:
            app[INGEST].webpush = None
            await webpush.stop()

    app.cleanup_ctx.append(lifecycle)
    return webpush
