"""OpenAPI 3.1 for the avatars service, generated from its pydantic models.

Served at `GET /avatars/openapi.json`; `python -m services.avatars.openapi >
docs/avatars-openapi.json` writes the checked-in copy (a unit test fails when it drifts).
Paths are as the service sees them; through the gateway they are the same (`/avatars/...`,
`/media/avatars/...`); `/admin/avatars/...` is on the service's own port only.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from services.avatars.api import schemas as s
from services.avatars.api.admin import Ban, ReviewDecision
from services.avatars.api.uploads import UploadRequest

JSON = "application/json"
PROBLEM = "application/problem+json"
ROUTES = web.RouteTableDef()
MODELS: tuple[type[BaseModel], ...] = (
    UploadRequest, s.UploadTicketView, s.HistoryEntry, s.LabelView, s.UploadView, s.UploadCreated,
    s.BlobAccepted, s.Profile, ReviewDecision, s.ReviewItem, s.Reviews, s.ReviewQueued, Ban,
    s.BlocklistEntry, s.Blocklist, s.Banned,
)  # fmt: skip
USER: list[dict[str, list[str]]] = [{"userJwt": []}]
ADMIN: list[dict[str, list[str]]] = [{"adminToken": []}]
IMAGE_TYPES = ("image/jpeg", "image/webp", "image/avif")


def ref(model: type[BaseModel] | str) -> dict[str, str]:
    name = model if isinstance(model, str) else model.__name__
    return {"$ref": f"#/components/schemas/{name}"}


def body(model: type[BaseModel]) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": ref(model)}}}


def ok(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": ref(model)}}}


def problems(*codes: int) -> dict[str, Any]:
    reasons = {
        400: "invalid input (problem+json, `errors` lists the fields)",
        401: "no valid user JWT (or admin token)",
        403: "forged, expired or replayed upload URL, or a wrong signed header",
        404: "not found (another player's upload looks missing too)",
        409: "the upload is not in a state that allows this",
        413: "the body is larger than allowed (sent before the rest is read)",
        415: "not an accepted image type (checked by its bytes)",
        503: "disabled (no ADMIN_TOKEN) or a dependency is down",
    }
    schema = {"content": {PROBLEM: {"schema": ref("Problem")}}}
    return {str(code): {"description": reasons[code], **schema} for code in codes}


def operation(
    summary: str,
    responses: dict[str, Any],
    *,
    security: list[dict[str, list[str]]] | None = None,
    request: type[BaseModel] | None = None,
    parameters: list[dict[str, Any]] | None = None,
    description: str = "",
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if description:
        op["description"] = description
    if security is not None:
        op["security"] = security
    if request is not None:
        op["requestBody"] = body(request)
    if parameters:
        op["parameters"] = parameters
    return op


def path_param(name: str, description: str, pattern: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if pattern:
        schema["pattern"] = pattern
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema}  # fmt: skip


UPLOAD_ID = path_param("id", "Upload id", r"^[a-f0-9]{32}$")


def paths() -> dict[str, Any]:
    media_params = [
        path_param("user", "The player's id"),
        path_param("version", "The avatar version (its upload id)", r"^[a-f0-9]{32}$"),
        path_param(
            "name",
            "`<w>x<h>.<ext>`: a size on the allow-list; `.jpg` negotiates the format by "
            "`Accept` (AVIF, WebP, else JPEG), `.webp` and `.avif` ask for one",
            r"^\d{1,4}x\d{1,4}\.(jpg|webp|avif)$",
        ),
    ]
    image = {t: {"schema": {"type": "string", "format": "binary"}} for t in IMAGE_TYPES}
    cache_headers = {
        "ETag": {"schema": {"type": "string"}, "description": "strong validator"},
        "Cache-Control": {"schema": {"type": "string"},
                          "description": "`public, max-age=31536000, immutable`"},
        "Vary": {"schema": {"type": "string"}, "description": "`Accept` on `.jpg` URLs"},
    }  # fmt: skip
    return {
        "/avatars/uploads": {
            "post": operation(
                "Start an upload: get a signed, expiring, single-use upload URL",
                {
                    "201": ok(s.UploadCreated, "the upload and how to send the bytes"),
                    **problems(400, 401, 413, 415),
                },
                security=USER,
                request=UploadRequest,
                description="Send the image to `upload.url` with `upload.method`: PUT with "
                "exactly `upload.headers` (embedded store), or a multipart POST of "
                "`upload.fields` then the file (S3), then call `complete` (S3 only). "
                "Through the gateway, per-player limits come from the `avatar-uploads` "
                "usage plan.",
            ),
        },
        "/avatars/blobs/{id}": {
            "put": operation(
                "The embedded store's upload URL (signed; no other credential)",
                {
                    "200": ok(s.BlobAccepted, "stored; the workflow starts"),
                    **problems(400, 403, 404, 413, 415),
                },
                parameters=[
                    UPLOAD_ID,
                    {
                        "name": "expires",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "integer"},
                        "description": "Unix time the URL expires",
                    },
                    {
                        "name": "sig",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string"},
                        "description": "HMAC-SHA256 over method, id, expiry, size and type",
                    },
                ],
                description="The body streams to disk, counted and sniffed as it arrives.",
            )
            | {
                "requestBody": {
                    "required": True,
                    "content": {
                        t: {"schema": {"type": "string", "format": "binary"}}
                        for t in ("image/jpeg", "image/png", "image/webp", "image/gif")
                    },
                }
            },
        },
        "/avatars/uploads/{id}": {
            "get": operation(
                "An upload's state (the poll fallback; every change is also pushed)",
                {"200": ok(s.UploadView, "the upload"), **problems(401, 404)},
                security=USER,
                parameters=[UPLOAD_ID],
            ),
        },
        "/avatars/uploads/{id}/complete": {
            "post": operation(
                "S3 store: the bytes are in the bucket, start the workflow",
                {
                    "202": ok(s.UploadView, "received (or already further)"),
                    **problems(401, 404, 409, 413),
                },
                security=USER,
                parameters=[UPLOAD_ID],
            ),
        },
        "/avatars/me": {
            "get": operation(
                "The player's published avatar",
                {"200": ok(s.Profile, "version and eager variant URLs"), **problems(401, 404)},
                security=USER,
            ),
        },
        "/media/avatars/{user}/{version}/{name}": {
            "get": operation(
                "A published avatar at an allowed size (rendered on first request, then stored)",
                {
                    "200": {"description": "the image", "headers": cache_headers, "content": image},
                    "304": {"description": "`If-None-Match` matched", "headers": cache_headers},
                    **problems(400, 404),
                },
                parameters=media_params,
            ),
        },
        "/admin/avatars/reviews": {
            "get": operation(
                "Uploads waiting for a human decision, oldest first",
                {"200": ok(s.Reviews, "the review queue"), **problems(401, 503)},
                security=ADMIN,
            ),
        },
        "/admin/avatars/reviews/{id}": {
            "post": operation(
                "Approve or reject an upload held for review; the workflow continues",
                {
                    "202": ok(s.ReviewQueued, "the decision is on the bus"),
                    **problems(400, 401, 404, 503),
                },
                security=ADMIN,
                request=ReviewDecision,
                parameters=[UPLOAD_ID],
            ),
        },
        "/admin/avatars/reviews/{id}/image": {
            "get": operation(
                "The canonical image under review",
                {
                    "200": {
                        "description": "WebP",
                        "content": {
                            "image/webp": {"schema": {"type": "string", "format": "binary"}}
                        },
                    },
                    **problems(401, 404, 503),
                },
                security=ADMIN,
                parameters=[UPLOAD_ID],
            ),
        },
        "/admin/avatars/uploads/{id}": {
            "get": operation(
                "Any upload's state",
                {"200": ok(s.UploadView, "the upload"), **problems(401, 404, 503)},
                security=ADMIN,
                parameters=[UPLOAD_ID],
            ),
        },
        "/admin/avatars/blocklist": {
            "get": operation(
                "Banned perceptual hashes",
                {"200": ok(s.Blocklist, "the blocklist"), **problems(401, 503)},
                security=ADMIN,
            ),
            "post": operation(
                "Ban an image (by upload or pHash): it and its near-duplicates are rejected",
                {"201": ok(s.Banned, "banned"), **problems(400, 401, 404, 503)},
                security=ADMIN,
                request=Ban,
            ),
        },
        "/admin/avatars/blocklist/{phash}": {
            "delete": operation(
                "Lift a ban",
                {"204": {"description": "removed"}, **problems(401, 404, 503)},
                security=ADMIN,
                parameters=[path_param("phash", "16 hex digits", r"^[0-9a-f]{16}$")],
            ),
        },
    }


def schemas() -> dict[str, Any]:
    out: dict[str, Any] = {
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details.",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string", "format": "uri"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "errors": {"type": "array", "items": {"type": "object"}},
            },
        }
    }
    for model in MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, nested in schema.pop("$defs", {}).items():
            out.setdefault(name, nested)
        out[model.__name__] = schema
    return dict(sorted(out.items()))


@cache
def build() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Surge avatars",
            "version": "0.1.0",
            "description": "Presigned uploads, the moderation workflow's state, the review "
            "queue and blocklist, and published avatars resized on the fly (docs/avatars.md).",
        },
        "servers": [{"url": "http://localhost:8080", "description": "through the gateway"}],
        "paths": paths(),
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "userJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "adminToken": {"type": "http", "scheme": "bearer", "description": "ADMIN_TOKEN"},
            },
        },
    }


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


@ROUTES.get("/avatars/openapi.json")
async def serve(request: web.Request) -> web.Response:
    return web.Response(text=render(), content_type=JSON, headers={"Cache-Control": "no-cache"})


if __name__ == "__main__":
    sys.stdout.write(render())
