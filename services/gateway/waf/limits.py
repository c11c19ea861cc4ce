"""Size limits on the URL (414), the header block (431) and the body (413).

The body limit is enforced before the body is read: a declared Content-Length over the limit is
refused at once, and a chunked body is counted while it streams and refused as soon as it
crosses the limit, so the gateway never buffers or forwards more than the limit.

The data plane's framing (dataplane/framing.py) applies the same URL and header limits while the
bytes arrive, so an over-long target is a 414 whatever its length; these checks remain for any
caller of the WAF that did not frame the request itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from services.gateway.request import Request


@dataclass(frozen=True, slots=True)
class Limits:
    max_url_bytes: int
    max_header_bytes: int
    max_headers: int
    max_body_bytes: int


class BodyTooLargeError(Exception):
    def __init__(self, limit: int, seen: int) -> None:
        super().__init__(f"request body exceeds {limit} bytes")
        self.limit = limit
        self.seen = seen


def url_bytes(request: Request) -> int:
    return len(request.raw_path.encode("utf-8", "surrogateescape"))


def header_bytes(request: Request) -> int:
    """Bytes of the header block as sent: `name: value\\r\\n` per field."""
    return sum(len(name) + len(value) + 4 for name, value in request.raw_headers)


def declared_body_bytes(request: Request) -> int | None:
    return request.content_length


async def iter_bounded(request: Request, limit: int) -> AsyncIterator[bytes]:
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


async def read_bounded(request: Request, limit: int) -> bytes:
    chunks = [chunk async for chunk in iter_bounded(request, limit)]
    return b"".join(chunks)
