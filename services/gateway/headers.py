"""Which headers cross the gateway, in each direction (RFC 9110 section 7.6.1)."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from services.gateway.clientip import ClientInfo
from services.gateway.identity import is_identity_header

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


def _connection_tokens(headers: Mapping[str, str] | CIMultiDictProxy[str]) -> set[str]:
    values = headers.getall("Connection", []) if isinstance(headers, CIMultiDictProxy) else []
    return {token.strip().lower() for value in values for token in value.split(",")}


def upstream_request_headers(
    request: web.Request,
    client: ClientInfo,
    request_id: str,
    identity: Mapping[str, str],
    *,
    keep_length: bool,
) -> CIMultiDict[str]:
    drop = HOP_BY_HOP | _REPLACED | _connection_tokens(request.headers)
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in request.headers.items():
        lower = name.lower()
        if lower in drop or is_identity_header(lower) or lower == "x-api-key":
            continue
        if lower == "authorization" and value[:7].lower() == "apikey ":
            continue  # API keys stop at the gateway; upstreams see X-Surge-Api-Key-Id
        out.add(name, value)
    if keep_length and request.content_length is not None:
        out["Content-Length"] = str(request.content_length)
    out["X-Forwarded-For"] = client.forwarded_for
    out["X-Forwarded-Proto"] = client.proto
    out["X-Forwarded-Host"] = request.host
    out["X-Request-ID"] = request_id
    out.update(identity)
    return out


def copy_response_headers(source: CIMultiDictProxy[str], target: web.StreamResponse) -> None:
    drop = HOP_BY_HOP | _connection_tokens(source)
    for name, value in source.items():
        if name.lower() not in drop:
            target.headers.add(name, value)
