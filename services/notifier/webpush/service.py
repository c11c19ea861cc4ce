"""`WebPush`: subscriptions API, VAPID key and concurrent deliveries for the notifier.

    webpush = WebPush(settings, store, session, app[METRICS].registry)
    await webpush.start()                  # indexes + VAPID key (reads or creates it)
    app.add_routes(webpush.routes)         # /notifier/webpush/*, /notifier/push/*
    await webpush.notify_user(user, payload, request)   # returns at once: sends run behind
    await webpush.stop()                   # lets in-flight deliveries finish (bounded), closes

`notify_user` schedules one delivery per subscription and returns how many it scheduled, so
the notifications consumer is never held by a push service's retries; past
NOTIFIER_WEBPUSH_MAX_PENDING scheduled deliveries it waits for room (backpressure).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_http_instrumentation
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import CollectorRegistry

from services.notifier.webpush import message
from services.notifier.webpush import metrics as m
from services.notifier.webpush.config import WebPushSettings, split_list
from services.notifier.webpush.routes import routes
from services.notifier.webpush.sender import Policy, Sender, Sleep
from services.notifier.webpush.subscriptions import (
    INDEXES,
    EndpointRules,
    Subscription,
    Subscriptions,
)
from services.notifier.webpush.vapid import Vapid, load_private_key, stored_key
from shared.events.contracts.notifier import WebPushRequest
from shared.store import Store

log = logging.getLogger("services.notifier.webpush")
_tracer = trace.get_tracer("services.notifier.webpush")


def delivery_attributes(endpoint: str) -> dict[str, str | int]:
    """The push service's host and port, never the endpoint's path (a capability)."""
    parts = urlsplit(endpoint)
    found: dict[str, str | int] = {
        "surge.delivery": "webpush",
        "server.address": parts.hostname or "",
    }
    if parts.port is not None or parts.scheme:
        found["server.port"] = parts.port or (443 if parts.scheme == "https" else 80)
    return found


class WebPush:
    # Module-level handlers: the routes are added before startup, the instance made during it.
    routes = routes

    def __init__(
        self,
        settings: WebPushSettings,
        store: Store,
        session: aiohttp.ClientSession,
        registry: CollectorRegistry,
        *,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings, self._store, self._clock = settings, store, clock
        self.metrics = m.WebPushMetrics(registry)
        self.subscriptions = Subscriptions(
            store.db, settings.webpush_max_subscriptions_per_user, clock
        )
        self.rules = EndpointRules(
            split_list(settings.webpush_allow_insecure_hosts),
            split_list(settings.webpush_allowed_hosts),
        )
        policy = Policy(
            settings.webpush_max_attempts,
            settings.webpush_backoff_seconds,
            settings.webpush_max_retry_after_seconds,
            settings.webpush_timeout_seconds,
        )
        slots = asyncio.Semaphore(settings.webpush_concurrency)
        self._sender = Sender(session, policy, slots, self.metrics, sleep, clock)
        self._room = asyncio.Semaphore(settings.webpush_max_pending)
        self._tasks: set[asyncio.Task[None]] = set()
        self._vapid: Vapid | None = None

    async def start(self) -> None:
        await self._store.ensure_indexes(INDEXES)
        configured = self.settings.vapid_private_key
        if configured is not None:
            try:
                key = load_private_key(configured.get_secret_value())
            except ValueError as exc:
                raise ValueError(f"NOTIFIER_VAPID_PRIVATE_KEY: {exc}") from None
        else:
            key = await stored_key(self._store.db)
        self._vapid = Vapid(key, self.settings.vapid_subject, self._clock)
        log.info("webpush ready, VAPID public key %s", self._vapid.public_key)

    @property
    def started(self) -> bool:
        return self._vapid is not None

    @property
    def vapid(self) -> Vapid:
        if self._vapid is None:
            raise RuntimeError("WebPush.start() has not run")
        return self._vapid

    async def notify_user(
        self, user_id: str, payload: dict[str, Any], request: WebPushRequest
    ) -> int:
        """Schedule the message to each of the user's subscriptions; returns how many."""
        if request.mode == "never":
            return 0
        plaintext = message.build(payload, request)
        scheduled = 0
        for sub in await self.subscriptions.of_user(user_id):
            if sub.expires_at is not None and sub.expires_at <= self._clock():
                if await self.subscriptions.prune(sub.id):
                    self.metrics.pruned.labels("expired").inc()
                continue
            await self._room.acquire()
            task = asyncio.create_task(self._deliver(sub, plaintext, request))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            scheduled += 1
        return scheduled

    async def _deliver(self, sub: Subscription, plaintext: bytes, request: WebPushRequest) -> None:
        # One CLIENT span per delivery, in the notification's trace, with its outcome; the
        # HTTP client's own spans are suppressed: a push endpoint's URL is a capability (its
        # path is the subscription's secret), so only its host goes into the trace.
        span = _tracer.start_span(
            "webpush.deliver", kind=SpanKind.CLIENT, attributes=delivery_attributes(sub.endpoint)
        )
        try:
            body = message.encrypt(plaintext, sub.p256dh, sub.auth)
            headers = message.headers(request, self.vapid.header(sub.endpoint))
            with suppress_http_instrumentation():
                result = await self._sender.send(sub.endpoint, body, headers)
            self.metrics.outcome(result.outcome, result.status)
            if span.is_recording():
                span.set_attributes({"webpush.outcome": result.outcome,
                                     "webpush.attempts": result.attempts})  # fmt: skip
                if result.status is not None:
                    span.set_attribute("http.response.status_code", result.status)
                if result.outcome not in (m.DELIVERED, m.GONE):
                    span.set_status(Status(StatusCode.ERROR, result.outcome))
            if result.outcome == m.GONE and await self.subscriptions.prune(sub.id):
                self.metrics.pruned.labels("gone").inc()
        except Exception as exc:  # one bad subscription must not stop the others
            log.exception("webpush delivery to subscription %s failed", sub.id)
            self.metrics.outcome(m.FAILED, None)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        finally:
            span.end()
            self._room.release()

    async def drain(self) -> None:
        """Wait until every scheduled delivery has finished (tests, graceful stop)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self, grace_seconds: float = 5.0) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace_seconds):
                await self.drain()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)


# Where the app keeps its started WebPush (the routes look it up there).
WEBPUSH = web.AppKey("notifier_webpush", WebPush)
