"""OpenAPI 3.1 for the gateway: the public port (`build_public`), the admin port
(`openapi_admin.build_admin`) and both in one document (`build_combined`).

Each app serves its own document at `GET /openapi.json` (on the admin port behind ADMIN_TOKEN
like every admin path). `python -m services.gateway.openapi > docs/gateway-openapi.json`
writes the combined one; a unit test fails when the checked-in file drifts from the code.

The public surface is a catch-all proxy, so it is described generically: any path under a
configured route prefix, with the answers the gateway itself gives (problem+json) and the
headers it adds. The live route table is at `GET /admin/routes`.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

from aiohttp import web

from services.gateway.auth.authenticator import API_KEY_HEADER
from services.gateway.openapi.admin import build_admin
from services.gateway.openapi.parts import (
    DOC_VERSION,
    OPENAPI_VERSION,
    base_components,
    operational_paths,
    problem,
    ref,
)

PUBLIC_SERVER = "http://localhost:8080"
ADMIN_SERVER = "http://127.0.0.1:8090"
PROXY_METHODS = ("get", "head", "post", "put", "patch", "delete", "options")
_LIMITED = ("RateLimit", "RateLimitPolicy")

PROXY_DESCRIPTION = """\
Forwarded to the upstream of the route whose `prefix` is the longest match for the path (and
whose `methods` allow the method). Before forwarding the gateway runs the WAF, CORS, the
route's auth policy (`none`, `jwt`, `api_key`, `jwt_or_api_key`, plus scopes and roles) and
the rate limits and quotas; the upstream gets the verified identity signed for it alone in
`X-Surge-Identity` (never the API key); the gateway drops every `X-Surge-*` header a client
sends.

The upstream's answer is relayed as is (streamed), with `RateLimit`/`RateLimit-Policy` when a
limit applies, `X-Request-ID`, and the route's CORS and security headers. The error answers
listed here are the gateway's own, in problem+json; an upstream's own error is relayed unchanged.
"""

PATH_PARAMETER: dict[str, Any] = {
    "name": "path",
    "in": "path",
    "required": True,
    "description": "Any path under a configured route prefix; it may contain `/`.",
    "schema": {"type": "string"},
}

GATEWAY_ERRORS: dict[str, dict[str, Any]] = {
    "400": problem(
        "Malformed request (conflicting Content-Length/Transfer-Encoding, bad JSON) or a body "
        "failing the route's JSON Schema: `errors` lists the failing fields."
    ),
    "401": problem(
        "Missing, expired or invalid JWT or API key (also on a `none` route when a "
        "presented credential is invalid).",
        ["WwwAuthenticate"],
    ),
    "403": problem(
        "Blocked by the WAF (`rule_id` names the rule) or a required scope or role is missing."
    ),
    "404": problem("No route matches the path."),
    "405": problem("The route does not allow the method.", ["Allow"]),
    "413": problem("Body over the route's or the gateway's limit (decided before reading it)."),
    "414": problem("URL longer than GATEWAY_WAF_MAX_URL_BYTES."),
    "415": problem("Not a JSON body on a route that validates bodies."),
    "429": problem(
        "A rate limit or quota refused the request (after waiting, on a route that queues).",
        ["RetryAfter", *_LIMITED],
    ),
    "431": problem("Header block over GATEWAY_WAF_MAX_HEADER_BYTES or too many headers."),
    "502": problem("The upstream is unreachable or broke the connection."),
    "503": problem("The upstream's circuit breaker is open.", ["RetryAfter"]),
    "504": problem("The upstream did not answer within the route's timeout."),
}


def _proxy_operation(method: str) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": f"proxy{method.capitalize()}",
        "tags": ["proxy"],
        "summary": f"{method.upper()} any path under a configured route.",
        "security": [{}, {"bearerJwt": []}, {"apiKey": []}],
        "responses": {
            "default": {
                "description": "The upstream's answer, relayed.",
                "headers": {
                    "X-Request-ID": ref("headers", "XRequestId"),
                    "RateLimit": ref("headers", "RateLimit"),
                    "RateLimit-Policy": ref("headers", "RateLimitPolicy"),
                },
                "content": {"*/*": {"schema": {}}},
            },
            **{status: ref("responses", f"Gateway{status}") for status in GATEWAY_ERRORS},
        },
    }
    if method in {"post", "put", "patch", "delete"}:
        operation["requestBody"] = {
            "required": False,
            "description": "Streamed to the upstream; JSON-Schema-validated on routes that say so.",
            "content": {"*/*": {"schema": {}}},
        }
    return operation


def _public_components() -> dict[str, Any]:
    components = base_components()
    components["responses"] = {f"Gateway{status}": r for status, r in GATEWAY_ERRORS.items()}
    components["securitySchemes"] = {
        "bearerJwt": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "On `jwt` and `jwt_or_api_key` routes (HS256 secret or JWKS).",
        },
        "apiKey": {
            "type": "apiKey",
            "in": "header",
            "name": API_KEY_HEADER,
            "description": "On `api_key` and `jwt_or_api_key` routes; also accepted as "
            "`Authorization: ApiKey <key>`.",
        },
    }
    return components


@cache
def build_public() -> dict[str, Any]:
    proxy = {method: _proxy_operation(method) for method in PROXY_METHODS}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Surge API gateway (public port)",
            "version": DOC_VERSION,
            "description": "The single public entry point. Routes come from the route table "
            "(see `GET /admin/routes` on the admin port). `/healthz`, `/readyz`, `/metrics` "
            "and `/openapi.json` shadow any route for those exact paths.",
        },
        "tags": [
            {"name": "proxy", "description": "Everything routed to upstream services."},
            {"name": "operations", "description": "Health, metrics and this document."},
        ],
        "paths": {
            **operational_paths(secured=False, tag="operations"),
            "/{path}": {
                "summary": "Any path under a configured route prefix.",
                "description": PROXY_DESCRIPTION,
                "parameters": [PATH_PARAMETER],
                **proxy,
            },
        },
        "components": _public_components(),
    }


def build_combined() -> dict[str, Any]:
    """Both ports in one document, each path item naming its server (3.1 path-level servers);
    the operational paths exist on both, and on the admin port /metrics and /openapi.json also
    need the token."""
    public, admin = copy.deepcopy(build_public()), copy.deepcopy(build_admin())
    public_server = [{"url": PUBLIC_SERVER, "description": "public port (GATEWAY_PORT)"}]
    admin_server = [{"url": ADMIN_SERVER, "description": "admin port (GATEWAY_ADMIN_PORT)"}]
    paths: dict[str, Any] = {}
    for path, item in public["paths"].items():
        shared = path in admin["paths"]
        paths[path] = {"servers": public_server + (admin_server if shared else []), **item}
        if shared and path in {"/metrics", "/openapi.json"}:
            get = dict(item["get"])
            get["security"] = [{}, {"adminToken": []}]
            get["description"] = "Open on the public port; the admin port needs ADMIN_TOKEN."
            get["responses"] = admin["paths"][path]["get"]["responses"]
            paths[path]["get"] = get
    for path, item in admin["paths"].items():
        if path in paths:
            continue
        for operation in item.values():
            operation.setdefault("security", admin["security"])
        paths[path] = {"servers": admin_server, **item}
    components = public["components"]
    components["schemas"] = dict(
        sorted({**components["schemas"], **admin["components"]["schemas"]}.items())
    )
    components["securitySchemes"].update(admin["components"]["securitySchemes"])
    components["responses"].update(admin["components"]["responses"])
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Surge API gateway",
            "version": DOC_VERSION,
            "description": "The public port and the admin port in one document; each app "
            "serves its own part at `GET /openapi.json`. Generated from the code; do not edit "
            "by hand (`python -m services.gateway.openapi > docs/gateway-openapi.json`).",
        },
        "tags": public["tags"] + admin["tags"],
        "paths": paths,
        "components": components,
    }


def render() -> str:
    return json.dumps(build_combined(), indent=2, ensure_ascii=False) + "\n"


async def serve_admin(request: web.Request) -> web.Response:
    return web.json_response(build_admin())
