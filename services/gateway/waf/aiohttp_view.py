"""The aiohttp side of the detection engine: an `aiohttp` request as a `RequestView`.

The only module of the detection path that knows aiohttp; a data plane on raw protocols
builds the view from its own parser instead (see view.py) and never imports this.
"""

from __future__ import annotations

from aiohttp import web

from services.gateway.waf.view import RequestView


def request_view(request: web.BaseRequest, body: bytes | None = None) -> RequestView:
    version = request.version
    return RequestView(
        method=request.method,
        target=request.raw_path,
        headers=tuple(request.headers.items()),
        body=body,
        version=f"{version.major}.{version.minor}",
    )
