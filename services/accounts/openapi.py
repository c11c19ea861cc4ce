"""The accounts API as an OpenAPI 3.1 document, generated from the request models and the route
table below (`make openapi` writes docs/accounts-openapi.json; a test keeps both in step with the
routes the app serves).

    python -m services.accounts.openapi > docs/accounts-openapi.json
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from services.accounts.admin.routes import Decision
from services.accounts.api.me import CodeIn, ConfirmIn, PasswordIn, ProfileIn
from services.accounts.api.signin import RefreshIn, SigninIn, SignoutIn
from services.accounts.api.signup import EmailIn, SignupIn, VerifyIn
from services.accounts.tenants.importer import ImportIn
from services.accounts.tenants.store import ApplicationIn, TenantIn

JSON, PROBLEM_JSON = "application/json", "application/problem+json"
MODELS: tuple[type[BaseModel], ...] = (
    SignupIn, EmailIn, VerifyIn, SigninIn, RefreshIn, SignoutIn, ProfileIn, PasswordIn, CodeIn,
    ConfirmIn, TenantIn, ApplicationIn, ImportIn, Decision,
)  # fmt: skip
TOKENS = {
    "type": "object",
    "required": ["access_token", "token_type", "expires_in"],
    "properties": {
        "access_token": {"type": "string", "description": "ES256 JWT (iss, aud, sub, exp, ...)"},
        "token_type": {"const": "Bearer"},
        "expires_in": {"type": "integer", "description": "Seconds"},
        "refresh_token": {"type": "string", "description": "Rotates on every use"},
        "scope": {"type": "string"},
        "session_id": {"type": "string"},
        "account_id": {"type": "string", "format": "uuid"},
    },
}
OBJECT = {"type": "object", "additionalProperties": True}
USER: list[Any] = [{"bearer": []}]
ADMIN: list[Any] = [{"admin": []}]
NONE: list[Any] = []

# (method, path, summary, request model or None, success status, success schema, security,
#  error statuses)
Operation = tuple[
    str, str, str, type[BaseModel] | None, int, dict[str, Any] | None, list[Any], tuple[int, ...]
]
OPERATIONS: tuple[Operation, ...] = (
    ("post", "/accounts/api/signup", "Create an account; a verification link is mailed. 202 "
     "whether or not the address was free.", SignupIn, 202, OBJECT, NONE, (400, 413)),
    ("post", "/accounts/api/verify", "Confirm an email address with the mailed link's token "
     "(works once).", VerifyIn, 200, OBJECT, NONE, (400,)),
    ("post", "/accounts/api/verify/resend", "Mail a new verification link (202 always).",
     EmailIn, 202, OBJECT, NONE, (400,)),
    ("post", "/accounts/api/signin", "Sign in: tokens and the browser session cookie. One 401 "
     "for every wrong combination; 429 with Retry-After while backing off; 401 with "
     "`mfa_required` when a second factor is on; 403 until the email is confirmed.", SigninIn,
     200, TOKENS, NONE, (400, 401, 403, 429)),
    ("post", "/accounts/api/token/refresh", "Rotate a refresh token; a replayed one ends the "
     "session.", RefreshIn, 200, TOKENS, NONE, (400, 401)),
    ("post", "/accounts/api/session/token", "An access token for the browser's session cookie "
     "(the platform's pages).", None, 200, TOKENS, NONE, (401,)),
    ("post", "/accounts/api/signout", "End the session (cookie, refresh token or access "
     "token).", SignoutIn, 204, None, NONE, (400,)),
    ("get", "/accounts/api/me", "The caller's account and profile.", None, 200, OBJECT, USER,
     (401,)),
    ("patch", "/accounts/api/me", "Edit the profile or phone (sealed again with a fresh data "
     "key).", ProfileIn, 200, OBJECT, USER, (400, 401, 409)),
    ("delete", "/accounts/api/me", "Erase the account (crypto-shredding, accounts.deleted).",
     ConfirmIn, 204, None, USER, (400, 401)),
    ("post", "/accounts/api/me/password", "Change the password; other sessions end.",
     PasswordIn, 204, None, USER, (400, 401)),
    ("get", "/accounts/api/me/sessions", "The caller's sessions.", None, 200, OBJECT, USER,
     (401,)),
    ("delete", "/accounts/api/me/sessions/{sid}", "End one of the caller's sessions.", None,
     204, None, USER, (401, 404)),
    ("post", "/accounts/api/me/totp", "Start TOTP enrolment: secret and otpauth URI.", None, 200,
     OBJECT, USER, (401, 409)),
    ("post", "/accounts/api/me/totp/confirm", "Confirm TOTP with a code: recovery codes, shown "
     "once.", CodeIn, 200, OBJECT, USER, (400, 401)),
    ("delete", "/accounts/api/me/totp", "Turn TOTP off (password).", ConfirmIn, 204, None, USER,
     (400, 401)),
    ("get", "/accounts/.well-known/openid-configuration", "OpenID Connect discovery.", None, 200,
     OBJECT, NONE, ()),
    ("get", "/accounts/.well-known/jwks.json", "Signing keys (current, and retired ones until "
     "their tokens expire).", None, 200, OBJECT, NONE, ()),
    ("get", "/accounts/authorize", "OAuth 2.0 authorization endpoint: code flow, PKCE S256 "
     "required; redirects to sign-in without a session.", None, 302, None, NONE, (400,)),
    ("post", "/accounts/token", "OAuth 2.0 token endpoint (form-encoded): authorization_code, "
     "refresh_token. Errors are RFC 6749 JSON.", None, 200, TOKENS, NONE, (400, 401)),
    ("get", "/accounts/userinfo", "OpenID Connect userinfo: the claims the token's scope "
     "releases.", None, 200, OBJECT, USER, (401,)),
    ("post", "/accounts/userinfo", "OpenID Connect userinfo (POST).", None, 200, OBJECT, USER,
     (401,)),
    ("post", "/accounts/admin/tenants", "Register a tenant.", TenantIn, 201, OBJECT, ADMIN,
     (400, 401, 409)),
    ("get", "/accounts/admin/tenants", "List tenants.", None, 200, OBJECT, ADMIN, (401,)),
    ("post", "/accounts/admin/tenants/{tenant}/applications", "Register an OIDC client "
     "(a confidential client's secret is shown once).", ApplicationIn, 201, OBJECT, ADMIN,
     (400, 401, 404)),
    ("get", "/accounts/admin/tenants/{tenant}/applications", "List a tenant's clients.", None,
     200, OBJECT, ADMIN, (401, 404)),
    ("post", "/accounts/admin/tenants/{tenant}/import", "Bulk import: create, merge by verified "
     "email/phone, or queue for review, per user.", ImportIn, 200, OBJECT, ADMIN,
     (400, 401, 404, 413)),
    ("get", "/accounts/admin/reviews", "Open merge decisions (`?status=`).", None, 200, OBJECT,
     ADMIN, (401,)),
    ("post", "/accounts/admin/reviews/{id}", "Decide a review: merge into a candidate, or "
     "reject.", Decision, 200, OBJECT, ADMIN, (400, 401, 404, 409)),
    ("get", "/accounts/admin/accounts/{id}/merges", "An account's merge history.", None, 200,
     OBJECT, ADMIN, (401,)),
    ("delete", "/accounts/admin/accounts/{id}", "Erase an account (operator).", None, 204, None,
     ADMIN, (401, 404)),
    ("get", "/accounts/admin/keys", "Master keys in use (records per key) and signing keys.",
     None, 200, OBJECT, ADMIN, (401,)),
    ("post", "/accounts/admin/keys/master/rotate", "New master key (local key manager); "
     "re-wrapping starts in the background.", None, 202, OBJECT, ADMIN, (401, 409)),
    ("post", "/accounts/admin/keys/signing/rotate", "Sign with a new key now.", None, 201,
     OBJECT, ADMIN, (401,)),
)  # fmt: skip


def _operation(op: Operation) -> dict[str, Any]:
    method, path, summary, model, status, schema, security, errors = op
    body: dict[str, Any] = {
        "summary": summary.split(". ")[0].rstrip("."),
        "description": summary,
        "operationId": f"{method}_{path.strip('/').replace('/', '_').replace('.', '')}".replace(
            "{", ""
        )
        .replace("}", "")
        .replace("-", "_"),
        "security": security,
        "responses": {},
    }
    params = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    if params:
        body["parameters"] = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in params
        ]
    if model is not None:
        body["requestBody"] = {
            "required": model is not SignoutIn,
            "content": {JSON: {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
        }
    success: dict[str, Any] = {"description": "OK" if status < 300 else "Redirect"}
    if schema is not None:
        success["content"] = {JSON: {"schema": schema}}
    body["responses"][str(status)] = success
    for error in errors:
        body["responses"][str(error)] = {"$ref": "#/components/responses/Problem"}
    return body


def build() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op[1], {})[op[0]] = _operation(op)
    schemas: dict[str, Any] = {}
    for model in MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    schemas["Problem"] = {
        "type": "object",
        "description": "RFC 9457 problem details; extra members depend on the error.",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "reason": {"type": "string"},
        },
        "additionalProperties": True,
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Surge accounts",
            "version": "0.1.0",
            "description": "Sign-up, sign-in, sessions, second factor, the OpenID Connect "
            "issuer, tenants and import. Through the gateway under /accounts/; the operator "
            "API on the service's own port with ADMIN_TOKEN. See docs/accounts.md.",
        },
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "responses": {
                "Problem": {
                    "description": "An error (application/problem+json)",
                    "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
                }
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "admin": {"type": "http", "scheme": "bearer", "description": "ADMIN_TOKEN"},
            },
        },
    }


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
