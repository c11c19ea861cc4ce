"""Building blocks shared by the public and the admin OpenAPI 3.1 documents.

Every error either port answers is RFC 9457 problem+json (shared/http/problems.py), so each
error response points at one `Problem` schema; the headers the gateway adds (request id, IETF
RateLimit fields, Retry-After, the RFC 6750 challenge) are components referenced by name.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.http.problems import PROBLEM_CONTENT_TYPE

OPENAPI_VERSION = "3.1.0"
DOC_VERSION = "0.1.0"
JSON = "application/json"


def ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


FIELD_ERROR: dict[str, Any] = {
    "type": "object",
    "description": "One failing field of a request body or query.",
    "required": ["field", "message"],
    "properties": {
        "field": {"type": "string", "description": "Dotted path, `body` for the root."},
        "message": {"type": "string"},
    },
}

PROBLEM: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details. Extra members depend on the error.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "rule_id": {"type": "string", "description": "The WAF rule that refused the request."},
        "errors": {
            "type": "array",
            "items": ref("schemas", "FieldError"),
            "description": "The failing fields (400 validation errors).",
        },
        "limit": {"type": "string", "description": "The rate-limit policy that refused (429)."},
        "retry_after": {"type": "integer", "minimum": 1, "description": "Seconds (429)."},
    },
    "additionalProperties": True,
}

HEADERS: dict[str, dict[str, Any]] = {
    "XRequestId": {
        "description": "The request id (the client's X-Request-ID when well-formed, else new); "
        "forwarded upstream and logged.",
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": "IETF RateLimit: the most restrictive (or the refused) policy, e.g. "
        '`"route";r=42;t=1` (r = remaining units, t = seconds until reset).',
        "schema": {"type": "string"},
    },
    "RateLimitPolicy": {
        "description": "IETF RateLimit-Policy: every policy that applies, e.g. "
        '`"key";q=20;w=2, "quota-day";q=10000;w=86400`.',
        "schema": {"type": "string"},
    },
    "RetryAfter": {
        "description": "Whole seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1},
    },
    "WwwAuthenticate": {
        "description": "RFC 6750 challenge (`Bearer realm=...`, with an error code when a "
        "credential was presented and refused).",
        "schema": {"type": "string"},
    },
    "Allow": {"description": "The methods the path accepts.", "schema": {"type": "string"}},
}


def problem(description: str, headers: Iterable[str] = ()) -> dict[str, Any]:
    """A problem+json response carrying `headers` (names of HEADERS) plus the request id."""
    return {
        "description": description,
        "headers": {_header_name(name): ref("headers", name) for name in ("XRequestId", *headers)},
        "content": {PROBLEM_CONTENT_TYPE: {"schema": ref("schemas", "Problem")}},
    }


def ok(description: str, schema: dict[str, Any] | None, media: str = JSON) -> dict[str, Any]:
    """A success response with the request id header (no body when `schema` is None)."""
    response: dict[str, Any] = {
        "description": description,
        "headers": {"X-Request-ID": ref("headers", "XRequestId")},
    }
    if schema is not None:
        response["content"] = {media: {"schema": schema}}
    return response


def _header_name(component: str) -> str:
    return {
        "XRequestId": "X-Request-ID",
        "RateLimitPolicy": "RateLimit-Policy",
        "RetryAfter": "Retry-After",
        "WwwAuthenticate": "WWW-Authenticate",
    }.get(component, component)


HEALTH: dict[str, Any] = {
    "type": "object",
    "required": ["status", "service"],
    "properties": {"status": {"const": "ok"}, "service": {"type": "string"}},
}

READINESS: dict[str, Any] = {
    "type": "object",
    "required": ["status", "checks"],
    "properties": {
        "status": {"enum": ["ready", "not ready"]},
        "checks": {"type": "object", "additionalProperties": {"type": "boolean"}},
    },
}


def operational_paths(*, secured: bool, tag: str) -> dict[str, Any]:
    """/healthz, /readyz, /metrics and /openapi.json. `secured`: /metrics and /openapi.json
    need the admin token (the admin port); /healthz and /readyz are always open."""
    open_security: dict[str, Any] = {"security": []} if secured else {}
    guarded: dict[str, Any] = {}
    if secured:
        guarded["responses"] = {"401": problem("Missing or wrong token.", ["WwwAuthenticate"])}
    return {
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "tags": [tag],
                "summary": "Liveness: answers while the event loop runs.",
                **open_security,
                "responses": {"200": ok("Alive.", ref("schemas", "Health"))},
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "tags": [tag],
                "summary": "Readiness: every dependency check (bus, store) passes.",
                **open_security,
                "responses": {
                    "200": ok("Ready.", ref("schemas", "Readiness")),
                    "503": ok(
                        "Not ready; `checks` names the failing ones.", ref("schemas", "Readiness")
                    ),
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "tags": [tag],
                "summary": "Prometheus metrics (text exposition format).",
                "responses": {
                    "200": ok("Metrics.", {"type": "string"}, "text/plain"),
                    **guarded.get("responses", {}),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "tags": [tag],
                "summary": "This document (OpenAPI 3.1).",
                "responses": {
                    "200": ok("The OpenAPI document.", {"type": "object"}),
                    **guarded.get("responses", {}),
                },
            }
        },
    }


def base_components() -> dict[str, Any]:
    return {
        "schemas": {
            "FieldError": FIELD_ERROR,
            "Health": HEALTH,
            "Problem": PROBLEM,
            "Readiness": READINESS,
        },
        "headers": dict(HEADERS),
    }
