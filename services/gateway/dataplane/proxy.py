"""Forward one request to its upstream and stream the answer back.

Bodies stream both ways: the request body goes out as the client sends it (bounded by the WAF),
the response is relayed chunk by chunk, compressed bytes untouched. Idempotent requests with a
replayable body are retried on connection errors and 502/503/504, with backoff, full jitter and
the upstream's retry budget. Each attempt asks the upstream's circuit breaker first.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from services.gateway.dataplane.headers import response_headers
from services.gateway.routing.live import UpstreamState
from services.gateway.routing.retries import IDEMPOTENT, backoff_seconds
from services.gateway.routing.table import Route
from services.gateway.waf.engine import BODY_REJECTION
from shared.http.problems import Problem
from shared.telemetry import w3c

log = logging.getLogger("gateway.proxy")
_tracer = trace.get_tracer("services.gateway.dataplane.proxy")
RETRY_STATUSES = frozenset({502, 503, 504})
Body = bytes | Callable[[], AsyncIterator[bytes]] | None
Decorate = Callable[[web.StreamResponse], None]
_ERROR = Status(StatusCode.ERROR)


def upstream_url(route: Route, upstream: UpstreamState, request: web.Request) -> str:
    path = request.raw_path.split("?", 1)[0]
    if route.strip_prefix:
        path = path[len(route.prefix.rstrip("/")) :] or "/"
        if not path.startswith("/"):
            path = "/" + path
    query = request.query_string
    return f"{upstream.base_url}{path}" + (f"?{query}" if query else "")


async def forward(
    request: web.Request,
    session: aiohttp.ClientSession,
    route: Route,
    upstream: UpstreamState,
    headers: CIMultiDict[str],
    body: Body,
    decorate: Decorate,
) -> web.StreamResponse:
    url = upstream_url(route, upstream, request)
    replayable = not callable(body)
    retries = route.retries.attempts if request.method in IDEMPOTENT and replayable else 0
    upstream.budget.deposit(route.retries.budget_ratio)
    timeout = _timeout(route.timeouts.total_seconds, route.timeouts.connect_seconds)
    attempt = 0
    while True:
        if not upstream.breaker.allow():
            wait = max(1, round(upstream.breaker.retry_after()))
            raise Problem(
                503,
                f"upstream {upstream.name!r} is failing; its circuit breaker is open",
                headers={"Retry-After": str(wait)},
            )
        data = body() if callable(body) else body
        may_retry = attempt < retries and upstream.budget.available()
        outcome = await _attempt(
            request, session, upstream, url, headers, data, timeout, decorate, may_retry
        )
        if not isinstance(outcome, Problem):  # (a Problem is a Response too in aiohttp 3)
            return outcome
        if attempt >= retries or not upstream.budget.withdraw():
            raise outcome
        await asyncio.sleep(backoff_seconds(route.retries, attempt))
        attempt += 1


@functools.lru_cache(maxsize=64)
def _timeout(total: float, connect: float) -> aiohttp.ClientTimeout:
    """One ClientTimeout per distinct route setting instead of one per request."""
    return aiohttp.ClientTimeout(total=total, sock_connect=connect)


async def _attempt(
    request: web.Request,
    session: aiohttp.ClientSession,
    upstream: UpstreamState,
    url: str,
    headers: CIMultiDict[str],
    data: bytes | AsyncIterator[bytes] | None,
    limits: aiohttp.ClientTimeout,
    decorate: Decorate,
    may_retry: bool,
) -> web.StreamResponse | Problem:
    """One try: a relayed response, or the problem to answer if no retry follows."""
    # Started by hand, not made current: nothing below reads the current span, and the
    # context managers of `start_as_current_span` cost more than the span. Its context goes
    # upstream in `traceparent`; `inject` overwrites the previous attempt's, so the headers
    # built once per request serve every attempt without a copy.
    method = request.method
    span = _tracer.start_span(f"{method} {upstream.name}", kind=SpanKind.CLIENT)
    # Only a recording span keeps attributes, and no sampler in use reads them at start.
    recording = span.is_recording()
    if recording:
        span.set_attributes(
            {
                "http.request.method": method,
                "url.full": url,
                "server.address": upstream.host,
                "peer.service": upstream.name,
            }
        )
    try:
        w3c.inject(headers, span)
        slots = upstream.slots
        await slots.acquire()  # no suspension while a slot is free
        try:
            async with session.request(
                method,
                url,
                headers=headers,
                data=data,
                timeout=limits,
                allow_redirects=False,
                auto_decompress=False,
                skip_auto_headers=_CLIENT_DEFAULTS,
            ) as answer:
                status = answer.status
                if recording:
                    span.set_attribute("http.response.status_code", status)
                failed = status in RETRY_STATUSES
                upstream.breaker.record(not failed)
                if failed and may_retry:
                    span.set_status(_ERROR)
                    return _retryable(status, upstream)
                return await _relay(request, answer, decorate)
        except TimeoutError:
            upstream.breaker.record(False)
            span.set_status(Status(StatusCode.ERROR, "timeout"))
            return Problem(504, f"upstream {upstream.name!r} did not answer in time")
        except aiohttp.ClientError as exc:
            if (rejection := _body_rejection(request)) is not None:
                raise rejection from None
            upstream.breaker.record(False)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            log.warning("upstream %s failed: %s", upstream.name, exc)
            return Problem(502, f"upstream {upstream.name!r} is unreachable")
        finally:
            slots.release()
    except Exception as exc:
        # as `start_as_current_span` did: the span notes an error that escapes (a 413 body)
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        span.end()


# aiohttp's client adds these when absent; a proxy must not: with `Accept-Encoding` added, a
# client that never asked for compression would be relayed a gzip body it cannot read.
_CLIENT_DEFAULTS = frozenset({"Accept", "Accept-Encoding", "User-Agent"})


def _retryable(status: int, upstream: UpstreamState) -> Problem:
    return Problem(status, f"upstream {upstream.name!r} answered {status}")


def _body_rejection(request: web.Request) -> web.HTTPException | None:
    return request.get(BODY_REJECTION)


class _Buffered(web.StreamResponse):
    """Holds its header block until the first body bytes (or the end), so both leave in one
    write, as aiohttp's own `web.Response` does. Only used when the whole upstream body has
    already arrived: a streaming answer must show its headers at once."""

    _send_headers_immediately = False


async def _relay(
    request: web.Request, answer: aiohttp.ClientResponse, decorate: Decorate
) -> web.StreamResponse:
    if answer.content.is_eof():
        # Small answers usually arrive whole with their headers: header block and body leave
        # in one write, with no chunk loop.
        response: web.StreamResponse = _Buffered(
            status=answer.status, reason=answer.reason, headers=response_headers(answer.headers)
        )
        decorate(response)
        await response.prepare(request)
        await response.write_eof(answer.content.read_nowait())
        return response
    response = web.StreamResponse(
        status=answer.status, reason=answer.reason, headers=response_headers(answer.headers)
    )
    decorate(response)
    await response.prepare(request)
    async for chunk in answer.content.iter_any():
        await response.write(chunk)
    await response.write_eof()
    return response
