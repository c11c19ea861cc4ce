"""The data plane's request as the detection engine's `RequestView` (view.py): the raw target
and header lines as llhttp parsed them, the HTTP version, the (bounded) body when read."""

from __future__ import annotations

from services.gateway.request import Request
from services.gateway.waf.view import RequestView


def request_view(request: Request, body: bytes | None = None) -> RequestView:
    return RequestView(
        method=request.method,
        target=request.target,
        headers=tuple(request.headers.items()),
        body=body,
        version=request.version,
    )
