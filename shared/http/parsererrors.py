"""Requests the HTTP parser refuses (smuggling attempts, malformed framing, oversize lines) are
answered as problem+json too.

aiohttp answers those before any middleware runs, in `RequestHandler.handle_error`, with a text
body; it offers no hook, so `install()` replaces that method once per process. 5xx keep
aiohttp's own handling (which never shows a traceback unless debug is on). Malformed requests
are logged at INFO, not as errors: on the public internet they are routine.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from shared.http.problems import PROBLEM_CONTENT_TYPE, problem_body

log = logging.getLogger("shared.http.parser")
_original = RequestHandler.handle_error


def _handle_error(
    self: RequestHandler,
    request: web.BaseRequest,
    status: int = 500,
    exc: BaseException | None = None,
    message: str | None = None,
) -> web.StreamResponse:
    if status >= 500 or request.writer.output_size > 0:
        return _original(self, request, status, exc, message)
    log.info("refused a malformed request from %s: %s", request.remote, message or exc)
    detail = (message or HTTPStatus(status).phrase).splitlines()[0][:300]
    body = problem_body(status, detail, title="Malformed HTTP request")
    response = web.Response(status=status, text=json.dumps(body), content_type=PROBLEM_CONTENT_TYPE)
    response.force_close()
    return response


def install() -> None:
    RequestHandler.handle_error = _handle_error  # type: ignore[method-assign]
