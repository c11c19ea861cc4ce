"""The one middleware every request passes: request id, server span, metrics, access log,
the signed caller (shared/http/identity.py) and problem+json errors.

It is a single middleware, not five, because each layer costs a coroutine frame per request and
the gateway sits on the hot path. Errors never leak a stack trace: unexpected exceptions are
logged with the request id and answered with a generic 500 problem.
"""

from __future__ import annotations

import logging
import os
import re
import time

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDictProxy
from opentelemetry import context, propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.trace import SpanKind, Status, StatusCode

from shared.http.identity import IDENTITIES
from shared.http.keys import METRICS, REQUEST_ID, SETTINGS
from shared.http.problems import PROBLEM_CONTENT_TYPE, problem_response
from shared.telemetry import w3c

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
access_log = logging.getLogger("access")
error_log = logging.getLogger("shared.http.errors")
_tracer = trace.get_tracer("shared.http")
_ERROR = Status(StatusCode.ERROR)
_ROOT = Context()  # what `propagate.extract` returns for a request without trace headers
# The header names the global propagator reads, cached per propagator (it may be set later).
_fields_for: TextMapPropagator | None = None
_fields: tuple[str, ...] = ()


def _route(request: web.Request) -> str:
    info = request.match_info.route.resource
    return info.canonical if info is not None else "unmatched"


def _request_id(request: web.Request) -> str:
    incoming = request.headers.get(REQUEST_ID_HEADER)
    if incoming is not None and _SAFE_ID.match(incoming):
        return incoming
    return os.urandom(16).hex()  # 32 hex digits like uuid4().hex, without building a UUID


def _as_problem(exc: web.HTTPException) -> web.Response:
    """Copy an aiohttp HTTP error into a plain response (returning the exception object itself
    is deprecated in aiohttp)."""
    if exc.content_type == PROBLEM_CONTENT_TYPE:
        return web.Response(
            status=exc.status, body=exc.body, headers=exc.headers, content_type=None
        )
    detail = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
    headers = {k: v for k, v in exc.headers.items() if k.lower() in {"allow", "retry-after"}}
    return problem_response(exc.status, detail or exc.reason, headers=headers)


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    # The span is started and made current by hand: `start_as_current_span` wraps it in two
    # generator-based context managers, which profiling showed costs more than the span itself.
    request_id = _request_id(request)
    request[REQUEST_ID] = request_id
    route = _route(request)
    method = request.method
    started = time.perf_counter()
    status = 500
    parent = _parent(request.headers)
    span = _tracer.start_span(
        f"{method} {route}",
        context=parent,
        kind=SpanKind.SERVER,
        # Where a trace starts the sampling rules match on method and path; a request with a
        # parent follows the parent's decision and builds nothing for the sampler.
        attributes={"http.request.method": method, "url.path": request.path}
        if parent is _ROOT
        else None,
        record_exception=False,
        set_status_on_exception=False,
    )
    # Attributes only for a span that records: with production sampling most are not, and no
    # sampler in use reads attributes, so building them for the sampler would be wasted.
    recording = span.is_recording()
    if recording:
        # what the service map and the traces command read; no more (each attribute is copied)
        span.set_attributes(
            {"http.request.method": method, "http.route": route, "server.address": request.host}
        )
    token = context.attach(trace.set_span_in_context(span))
    try:
        response = await _guarded(request, handler, request_id)
        status = response.status
        return response
    finally:
        if recording:
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(_ERROR)
        elapsed = time.perf_counter() - started
        request.app[METRICS].observe(route, method, status, elapsed)
        if access_log.isEnabledFor(logging.INFO):
            _log_access(request, request_id, route, status, elapsed)
        span.end()
        context.detach(token)


def _parent(headers: CIMultiDictProxy[str]) -> Context:
    """The remote parent, parsed only when a propagation header came: most requests have none."""
    global _fields_for, _fields
    textmap = propagate.get_global_textmap()
    if textmap is not _fields_for:
        _fields_for, _fields = textmap, tuple(textmap.fields)
    for name in _fields:
        if name in headers:
            return w3c.extract(headers)
    return _ROOT


def _log_access(
    request: web.Request, request_id: str, route: str, status: int, elapsed: float
) -> None:
    access_log.info(
        "%s %s %d",
        request.method,
        request.path,
        status,
        extra={
            "request_id": request_id,
            "method": request.method,
            "path": request.path,
            "route": route,
            "status": status,
            "duration_ms": round(elapsed * 1000, 3),
            "remote": request.remote,
        },
    )


async def _guarded(request: web.Request, handler: Handler, request_id: str) -> web.StreamResponse:
    limit = request.app[SETTINGS].max_request_bytes
    response: web.StreamResponse
    length = request.content_length
    if length is not None and length > limit:
        response = problem_response(413, f"request body exceeds {limit} bytes")
    else:
        try:
            identities = request.app.get(IDENTITIES)
            if identities is not None and identities.verify_requests:
                identities.admit(request)
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise  # redirects and other non-errors pass through untouched
            response = _as_problem(exc)
        except Exception:
            error_log.exception("unhandled error", extra={"request_id": request_id})
            trace.get_current_span().set_status(_ERROR)
            response = problem_response(
                500, f"an internal error occurred; quote request id {request_id} when reporting it"
            )
    return response


async def stamp_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every response, streamed ones included, names its request id."""
    request_id = request.get(REQUEST_ID)
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id
