"""Which headers cross the gateway, in each direction (RFC 9110 section 7.6.1)."""

from __future__ import annotations

import functools
from collections.abc import Mapping

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from services.gateway.clientip import ClientInfo
from shared.http.identity import IDENTITY_PREFIX

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Set by the gateway itself: never believed from the client.
_REPLACED = frozenset(
    {
        "host",
        "content-length",
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-request-id",
        "traceparent",
        "tracestate",
    }
)


# Never forwarded upstream from the client, whatever the request (nor any `x-surge-*` header:
# the platform's own, the signed identity among them).
_NOT_FORWARDED = HOP_BY_HOP | _REPLACED | {"x-api-key"}


def _connection_tokens(headers: Mapping[str, str] | CIMultiDictProxy[str]) -> set[str]:
    values = headers.getall("Connection", []) if isinstance(headers, CIMultiDictProxy) else []
    return {token.strip().lower() for value in values for token in value.split(",")}


def _dropped(base: frozenset[str], headers: CIMultiDictProxy[str]) -> frozenset[str]:
    values = headers.getall("Connection", ())
    if not values:
        return base  # most requests: the fixed set as it is
    if len(values) == 1:
        return _with_tokens(base, values[0])  # `keep-alive` on nearly every upstream answer
    return base | _connection_tokens(headers)


@functools.lru_cache(maxsize=256)
def _with_tokens(base: frozenset[str], connection: str) -> frozenset[str]:
    return base | {token.strip().lower() for token in connection.split(",")}


def upstream_request_headers(
    request: web.Request,
    client: ClientInfo,
    request_id: str,
    identity: Mapping[str, str],  # the signed assertion for this upstream
    *,
    keep_length: bool,
) -> CIMultiDict[str]:
    source = request.headers
    drop = _dropped(_NOT_FORWARDED, source)
    pairs: list[tuple[str, str]] = []
    for name, value in source.items():
        lower = name.lower()
        if lower in drop or lower.startswith(IDENTITY_PREFIX):
            continue
        if lower == "authorization" and value[:7].lower() == "apikey ":
            continue  # API keys stop at the gateway; upstreams see the key id in the identity
        pairs.append((name, value))
    # The client's copies of all these were dropped above, so appending replaces them.
    if keep_length and request.content_length is not None:
        pairs.append(("Content-Length", str(request.content_length)))
    pairs.append(("X-Forwarded-For", client.forwarded_for))
    pairs.append(("X-Forwarded-Proto", client.proto))
    pairs.append(("X-Forwarded-Host", request.host))
    pairs.append(("X-Request-ID", request_id))
    pairs.extend(identity.items())
    return CIMultiDict(pairs)


def response_headers(source: CIMultiDictProxy[str]) -> list[tuple[str, str]]:
    """The upstream response's headers that cross back to the client."""
    drop = _dropped(HOP_BY_HOP, source)
    return [(name, value) for name, value in source.items() if name.lower() not in drop]


def copy_response_headers(source: CIMultiDictProxy[str], target: web.StreamResponse) -> None:
    target.headers.extend(response_headers(source))
