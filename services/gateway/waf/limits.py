"""Size limits on the URL (414), the header block (431) and the body (413).

The body limit is enforced before the body is read: a declared Content-Length over the limit is
refused at once, and a chunked body is counted while it streams and refused as soon as it
crosses the limit, so the gateway never buffers or forwards more than the limit.

aiohttp's own parser refuses over-long lines with a bare 400 before any handler runs, so the
server must be started with `server_handler_args(...)`: generous hard caps that let requests
through to these checks, which answer 414/431 as problem+json.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TypedDict

from aiohttp import web

# Between a limit and its hard cap the gateway answers with a problem; beyond the cap aiohttp's
# parser answers a plain 400 without reading further.
HARD_CAP_FACTOR = 2
_REQUEST_LINE_SLACK = 64  # method, spaces and "HTTP/1.1" (the pure-Python parser counts them)


@dataclass(frozen=True, slots=True)
class Limits:
    max_url_bytes: int
    max_header_bytes: int
    max_headers: int
    max_body_bytes: int


class HandlerArgs(TypedDict):
    max_line_size: int
    max_field_size: int
    max_headers: int


class BodyTooLargeError(Exception):
    def __init__(self, limit: int, seen: int) -> None:
        super().__init__(f"request body exceeds {limit} bytes")
        self.limit = limit
        self.seen = seen


def server_handler_args(limits: Limits) -> HandlerArgs:
    """`handler_args` for `web.AppRunner`/`web.run_app` so oversize requests reach the checks."""
    return HandlerArgs(
        max_line_size=HARD_CAP_FACTOR * limits.max_url_bytes + _REQUEST_LINE_SLACK,
        max_field_size=HARD_CAP_FACTOR * limits.max_header_bytes,
        max_headers=HARD_CAP_FACTOR * limits.max_headers + 2,
    )


def url_bytes(request: web.BaseRequest) -> int:
    return len(request.raw_path.encode("utf-8", "surrogateescape"))


def header_bytes(request: web.BaseRequest) -> int:
    """Bytes of the header block as sent: `name: value\\r\\n` per field."""
    return sum(len(name) + len(value) + 4 for name, value in request.raw_headers)


def declared_body_bytes(request: web.BaseRequest) -> int | None:
    return request.content_length


async def iter_bounded(request: web.BaseRequest, limit: int) -> AsyncIterator[bytes]:
    """The body chunk by chunk; raises BodyTooLargeError once more than `limit` bytes arrive."""
    seen = 0
    while True:
        chunk = await request.content.readany()
        if not chunk:
            return
        seen += len(chunk)
        if seen > limit:
            raise BodyTooLargeError(limit, seen)
        yield chunk


async def read_bounded(request: web.BaseRequest, limit: int) -> bytes:
    chunks = [chunk async for chunk in iter_bounded(request, limit)]
    return b"".join(chunks)
