"""The request as every pipeline stage sees it: plain data the data plane parsed, no framework.

The data plane (`dataplane/`) builds one `Request` per message from llhttp's callbacks; the
stages (routing, WAF, CORS, authentication, zones, limits, proxy, metering) are functions over
it. Header names and values are decoded as UTF-8 with surrogate escapes, so encoding them back
gives the exact bytes the client sent (`raw_headers` keeps those bytes, in order, for the proxy).
A leaf module: it imports nothing else of the gateway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from http.cookies import CookieError, SimpleCookie
from typing import Protocol
from urllib.parse import parse_qsl, unquote

from multidict import CIMultiDict


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Who the client is, as far as the network tells (see dataplane/clientip.py)."""

    address: str
    proto: str
    forwarded_for: str  # the X-Forwarded-For value to send upstream


class BodyReader(Protocol):
    """The request body as it arrives (flow-controlled: reading is what lets more in)."""

    async def readany(self) -> bytes:
        """The next chunk; b"" at the end of the body."""
        ...

    def at_eof(self) -> bool: ...


class _NoBody:
    async def readany(self) -> bytes:
        return b""

    def at_eof(self) -> bool:
        return True


NO_BODY: BodyReader = _NoBody()


def decode(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


class Request:
    """One parsed request. `content` streams its body; the rest is read-only data."""

    __dict__: dict[str, object]  # (cached_property needs an instance dict)

    def __init__(
        self,
        method: str,
        target: str,
        raw_headers: Sequence[tuple[bytes, bytes]],
        *,
        version: str = "1.1",
        keep_alive: bool = True,
        client: ClientInfo,
        secure: bool = False,
        content: BodyReader = NO_BODY,
        content_length: int | None = None,
        chunked: bool = False,
        upgrade: bool = False,
        request_id: str = "",
    ) -> None:
        self.method = method
        self.target = target
        self.raw_headers = raw_headers
        self.headers = CIMultiDict[str]([(decode(k), decode(v)) for k, v in raw_headers])
        self.version = version
        self.keep_alive = keep_alive
        self.client = client
        self.secure = secure
        self.content = content
        self.content_length = content_length
        self.chunked = chunked
        self.upgrade = upgrade
        self.request_id = request_id
        raw_path, _, self.query_string = target.partition("?")
        self.raw_path = raw_path
        self.path = unquote(raw_path) if "%" in raw_path else raw_path
        # Set by the WAF when it read part of a body it leaves to stream (see waf/engine.py),
        # and the problem it raised while the proxy streamed the body.
        self.body_prefix = b""
        self.body_rejection: Exception | None = None

    @property
    def body_exists(self) -> bool:
        return self.chunked or bool(self.content_length)

    @property
    def host(self) -> str:
        return self.headers.get("Host", "")

    @property
    def path_qs(self) -> str:
        return self.target

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased ("application/octet-stream" when the
        request has none, as aiohttp reported it)."""
        value = self.headers.get("Content-Type")
        if not value:
            return "application/octet-stream"
        return value.split(";", 1)[0].strip().lower()

    @cached_property
    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(self.query_string, keep_blank_values=True)

    @cached_property
    def cookies(self) -> dict[str, str]:
        jar: SimpleCookie = SimpleCookie()
        for value in self.headers.getall("Cookie", ()):
            try:
                jar.load(value)
            except CookieError:
                continue
        return {name: morsel.value for name, morsel in jar.items()}

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.target[:80]!r}>"
