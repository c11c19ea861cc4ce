"""CORS per route (preflights answered by the gateway) and security headers on every response.

CORS follows the Fetch standard and the Kong/APISIX cors plugins: an allowed origin is echoed
back with `Vary: Origin`; a disallowed origin gets no CORS headers (its preflight a 403
problem). Origins may be exact (`https://app.example.com`), a subdomain wildcard
(`https://*.example.com`) or `*`. Credentials are only allowed for origins listed explicitly:
matching by `*` never grants `Access-Control-Allow-Credentials`, and `*` never matches the opaque
origin `null` (sandboxed frames, files).

Security headers: upstream responses keep the values the upstream chose and gain the missing
ones; gateway-generated responses (errors, preflights) also get a locked-down CSP.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from services.gateway.dataplane.headers import ResponseHeaders
from services.gateway.request import Request
from services.gateway.routing.table import Cors, Route
from shared.http.problems import PROBLEM_CONTENT_TYPE, problem_body

GENERATED_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
HSTS = "max-age=31536000"
_BASE_SECURITY = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-site",
}
_BASE_SECURITY_ITEMS = tuple(_BASE_SECURITY.items())
# (lower-cased name, header line) for the upstream case, where only missing ones are added.
_BASE_SECURITY_LINES = tuple(
    (name.lower().encode(), (name.encode(), value.encode())) for name, value in _BASE_SECURITY_ITEMS
)
_PREFLIGHT_VARY = ("Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers")
_HOST_CHARS = re.compile(r"^[a-z0-9.-]+$")


@dataclass(frozen=True, slots=True)
class SecurityHeaders:
    enabled: bool = True  # GATEWAY_SECURITY_HEADERS


DEFAULT_SECURITY = SecurityHeaders()


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer the gateway gives itself (a preflight)."""

    status: int
    headers: ResponseHeaders
    body: bytes = b""


def is_https(request: Request) -> bool:
    return request.client.proto == "https"


def is_preflight(request: Request) -> bool:
    return (
        request.method == "OPTIONS"
        and "Origin" in request.headers
        and "Access-Control-Request-Method" in request.headers
    )


def match_origin(cors: Cors, origin: str) -> tuple[bool, bool]:
    """(allowed, explicitly): explicit means listed or wildcard-matched, not merely `*`."""
    origin = origin.strip().lower()
    for pattern in (item.strip().lower() for item in cors.allow_origins):
        if pattern == origin and pattern != "*":
            return True, True
        scheme, sep, host = pattern.partition("://*.")
        if sep and origin.startswith(scheme + "://") and origin.endswith("." + host):
            label = origin[len(scheme) + 3 : -len(host) - 1]
            if label and _HOST_CHARS.match(label):
                return True, True
    if "*" in cors.allow_origins and origin != "null":
        return True, False
    return False, False


def preflight(
    request: Request, route: Route | None, security: SecurityHeaders = DEFAULT_SECURITY
) -> Reply | None:
    """The gateway's answer to a CORS preflight on a CORS route, else None (proxy it)."""
    if route is None or route.cors is None or not is_preflight(request):
        return None
    cors = route.cors
    origin = request.headers["Origin"]
    method = request.headers["Access-Control-Request-Method"].strip().upper()
    requested = [
        name.strip().lower()
        for name in request.headers.get("Access-Control-Request-Headers", "").split(",")
        if name.strip()
    ]
    allowed, explicit = match_origin(cors, origin)
    methods = [m.upper() for m in cors.allow_methods if route.allows(m)]
    headers = [name.lower() for name in cors.allow_headers]
    refusal: str | None = None
    if not allowed:
        refusal = f"origin {origin[:200]!r} is not allowed by this route's CORS policy"
    elif method not in methods:
        refusal = f"method {method[:20]!r} is not allowed by this route's CORS policy"
    elif "*" not in headers and (unlisted := [h for h in requested if h not in headers]):
        refusal = f"headers {', '.join(unlisted)[:200]} are not allowed by this route's CORS policy"
    out = ResponseHeaders()
    if refusal is not None:
        status = 403
        body = json.dumps(problem_body(403, refusal, title="CORS preflight refused")).encode()
        out.add("Content-Type", PROBLEM_CONTENT_TYPE)
    else:
        status, body = 204, b""
        out.add("Access-Control-Allow-Origin", origin)
        out.add("Access-Control-Allow-Methods", ", ".join(methods))
        allow_headers = requested if "*" in headers else cors.allow_headers
        if allow_headers:
            out.add("Access-Control-Allow-Headers", ", ".join(allow_headers))
        out.add("Access-Control-Max-Age", str(cors.max_age_seconds))
        if cors.allow_credentials and explicit:
            out.add("Access-Control-Allow-Credentials", "true")
    for name in _PREFLIGHT_VARY:
        add_vary(out, name)
    add_security_headers(request, out, security, generated=True)
    return Reply(status, out, body)


def decorate(
    request: Request,
    headers: ResponseHeaders,
    route: Route | None,
    *,
    upstream: bool = False,
    security: SecurityHeaders = DEFAULT_SECURITY,
) -> None:
    """CORS headers for the route and security headers, on a response not yet sent.

    `upstream=True` for a proxied upstream response: its own security headers are kept and no
    CSP is added; on a CORS route its Access-Control-* headers are replaced by the gateway's.
    """
    if route is not None and route.cors is not None:
        _apply_cors(request, headers, route.cors, upstream=upstream)
    add_security_headers(request, headers, security, generated=not upstream)


def _apply_cors(request: Request, headers: ResponseHeaders, cors: Cors, *, upstream: bool) -> None:
    if upstream:
        headers.remove_prefix("access-control-")
    add_vary(headers, "Origin")
    origin = request.headers.get("Origin")
    if origin is None:
        return
    allowed, explicit = match_origin(cors, origin)
    if not allowed:
        return
    headers.set("Access-Control-Allow-Origin", origin)
    if cors.expose_headers:
        headers.set("Access-Control-Expose-Headers", ", ".join(cors.expose_headers))
    if cors.allow_credentials and explicit:
        headers.set("Access-Control-Allow-Credentials", "true")


def add_security_headers(
    request: Request,
    headers: ResponseHeaders,
    security: SecurityHeaders = DEFAULT_SECURITY,
    *,
    generated: bool,
) -> None:
    if not security.enabled:
        return
    if generated:
        headers.update(_BASE_SECURITY_ITEMS)
        headers.set("Content-Security-Policy", GENERATED_CSP)
    else:  # an upstream's own values win
        present = headers.names
        for lowered, line in _BASE_SECURITY_LINES:
            if lowered not in present:
                headers.lines.append(line)
                present.add(lowered)
    if is_https(request):
        if generated:
            headers.set("Strict-Transport-Security", HSTS)
        else:
            headers.setdefault("Strict-Transport-Security", HSTS)


def add_vary(headers: ResponseHeaders, name: str) -> None:
    current = [item.strip() for item in (headers.get("Vary") or "").split(",") if item.strip()]
    if "*" in current or name.lower() in (item.lower() for item in current):
        return
    headers.set("Vary", ", ".join([*current, name]))
