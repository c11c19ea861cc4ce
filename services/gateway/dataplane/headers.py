"""Which headers cross the gateway, in each direction (RFC 9110 section 7.6.1), on bytes.

The upstream request keeps the client's header lines byte for byte, minus hop-by-hop fields
(and those the client's `Connection` names), identity headers (`X-Surge-*`: the gateway sets the
signed one), API keys, and the fields the gateway sets itself (Host, Content-Length,
Forwarded/X-Forwarded-*, X-Request-ID, traceparent/tracestate, Expect: the gateway answers
`100-continue` itself). The response keeps the upstream's lines minus hop-by-hop ones; the
gateway frames the body (Content-Length or chunked) itself.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from services.gateway.request import ClientInfo, Request
from shared.http.identity import IDENTITY_PREFIX

RawHeaders = list[tuple[bytes, bytes]]

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
_REPLACED = frozenset(
    {
        b"host",
        b"content-length",
        b"expect",
        b"forwarded",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-request-id",
        b"traceparent",
        b"tracestate",
    }
)
# ... and no `x-surge-*` header (the platform's own, the signed identity among them).
_NOT_FORWARDED = HOP_BY_HOP | _REPLACED | {b"x-api-key"}
_NOT_RETURNED = HOP_BY_HOP | {b"content-length"}
_IDENTITY_PREFIX = IDENTITY_PREFIX.encode()
# A WebSocket handshake keeps these (they are hop-by-hop, but they are the upgrade itself).
_UPGRADE_KEPT = frozenset({b"connection", b"upgrade"})


@functools.lru_cache(maxsize=256)
def _with_tokens(base: frozenset[bytes], connection: bytes) -> frozenset[bytes]:
    return base | {token.strip().lower() for token in connection.split(b",")}


def _dropped(base: frozenset[bytes], raw: Iterable[tuple[bytes, bytes]]) -> frozenset[bytes]:
    values = [value for name, value in raw if name.lower() == b"connection"]
    if not values:
        return base
    return _with_tokens(base, b",".join(values))


def upstream_head(
    request: Request,
    path: bytes,
    host: bytes,
    client: ClientInfo,
    identity: RawHeaders,
    *,
    upgrade: bool = False,
) -> bytes:
    """The upstream request line and header lines, without framing or trace fields and
    without the final CRLF (the proxy adds those per attempt)."""
    raw = request.raw_headers
    drop = _dropped(_NOT_FORWARDED, raw)
    if upgrade:
        drop = drop - _UPGRADE_KEPT
    lines = [b"%s %s HTTP/1.1\r\nHost: %s\r\n" % (request.method.encode(), path, host)]
    for name, value in raw:
        lowered = name.lower()
        if lowered in drop or lowered.startswith(_IDENTITY_PREFIX):
            continue
        if lowered == b"authorization" and value[:7].lower() == b"apikey ":
            continue  # API keys stop at the gateway; upstreams see X-Surge-Api-Key-Id
        lines.append(b"%s: %s\r\n" % (name, value))
    lines.append(
        b"X-Forwarded-For: %s\r\nX-Forwarded-Proto: %s\r\nX-Forwarded-Host: %s\r\n"
        b"X-Request-ID: %s\r\n"
        % (
            client.forwarded_for.encode(),
            client.proto.encode(),
            request.host.encode("utf-8", "surrogateescape"),
            request.request_id.encode(),
        )
    )
    lines.extend(b"%s: %s\r\n" % pair for pair in identity)
    return b"".join(lines)


def response_headers(raw: RawHeaders) -> RawHeaders:
    """The upstream response's header lines that cross back to the client."""
    drop = _dropped(_NOT_RETURNED, raw)
    return [(name, value) for name, value in raw if name.lower() not in drop]


def content_length(raw: RawHeaders) -> int | None:
    for name, value in raw:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class ResponseHeaders:
    """A response's header lines as bytes, with the few edits the gateway makes by name."""

    __slots__ = ("lines", "names")

    def __init__(self, lines: RawHeaders | None = None) -> None:
        self.lines: RawHeaders = lines if lines is not None else []
        self.names = {name.lower() for name, _ in self.lines}

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str]]) -> ResponseHeaders:
        return cls([(k.encode("latin-1"), v.encode("utf-8", "surrogateescape")) for k, v in pairs])

    def __contains__(self, name: str) -> bool:
        return name.lower().encode() in self.names

    def get(self, name: str, default: str | None = None) -> str | None:
        wanted = name.lower().encode()
        if wanted in self.names:
            for key, value in self.lines:
                if key.lower() == wanted:
                    return value.decode("utf-8", "surrogateescape")
        return default

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def getall(self, name: str) -> list[str]:
        wanted = name.lower().encode()
        return [v.decode("utf-8", "surrogateescape") for k, v in self.lines if k.lower() == wanted]

    def add(self, name: str, value: str) -> None:
        encoded = name.encode("latin-1")
        self.lines.append((encoded, value.encode("utf-8", "surrogateescape")))
        self.names.add(encoded.lower())

    def set(self, name: str, value: str) -> None:
        self.remove(name)
        self.add(name, value)

    def setdefault(self, name: str, value: str) -> None:
        if name.lower().encode() not in self.names:
            self.add(name, value)

    def remove(self, name: str) -> None:
        wanted = name.lower().encode()
        if wanted in self.names:
            self.lines = [(k, v) for k, v in self.lines if k.lower() != wanted]
            self.names.discard(wanted)

    def remove_prefix(self, prefix: str) -> None:
        wanted = prefix.lower().encode()
        if any(name.startswith(wanted) for name in self.names):
            self.lines = [(k, v) for k, v in self.lines if not k.lower().startswith(wanted)]
            self.names = {name for name in self.names if not name.startswith(wanted)}

    def update(self, values: Iterable[tuple[str, str]]) -> None:
        for name, value in values:
            self.set(name, value)

    def items(self) -> list[tuple[str, str]]:
        return [(k.decode("latin-1"), v.decode("utf-8", "surrogateescape")) for k, v in self.lines]
