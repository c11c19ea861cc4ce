"""The player's upload API (user JWT, through the gateway's /avatars/uploads routes).

POST /avatars/uploads                 {"content_type"} -> 201 {id, state, upload: {method, url,
                                      headers, fields, max_bytes, expires_at}, status_url}
POST /avatars/uploads/{id}/complete   S3 backend: the bytes are in the bucket -> 202
GET  /avatars/uploads/{id}            the upload's state (the poll fallback to the push)
GET  /avatars/me                      the player's published avatar (version, variant URLs)
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.avatars.api.bodies import read_json
from services.avatars.blobs.base import incoming_key
from services.avatars.keys import CONTEXT, PROBLEMS, Context
from services.avatars.workflow.uploads import PROFILES, view
from shared.events.contracts.avatars import AVATAR_UPLOADED, AvatarUploaded
from shared.http.identity import user_id
from shared.http.problems import Problem
from shared.storeops import claim

routes = web.RouteTableDef()
# The notifier's channel alphabet: the id names `user:<id>` and appears in media paths.
USER_ID = re.compile(r"^[A-Za-z0-9._@|=+-]{1,128}$")


class UploadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content_type: str = Field(
        default="image/jpeg", description="The image's type; the bytes must be of this type"
    )


def base_url(request: web.Request, ctx: Context) -> str:
    """Where the client reaches the gateway: AVATARS_PUBLIC_URL, else what the gateway says
    (only verified callers get here, and the gateway sets X-Forwarded-Host/-Proto itself)."""
    if ctx.settings.public_url:
        return ctx.settings.public_url.rstrip("/")
    host = request.headers.get("X-Forwarded-Host")
    proto = request.headers.get("X-Forwarded-Proto", "http")
    if host and proto in ("http", "https"):
        return f"{proto}://{host}"
    return f"{request.scheme}://{request.host}"


async def owned(request: web.Request, ctx: Context) -> dict[str, Any]:
    user = user_id(request)
    doc = await ctx.uploads.get(request.match_info["id"])
    if doc is None or doc["user"] != user:  # another player's upload looks like a missing one
        raise Problem(404, "no such upload", type_=PROBLEMS + "no-upload")
    return doc


@routes.post("/avatars/uploads")
async def create(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    user = user_id(request)
    if not USER_ID.fullmatch(user):
        raise Problem(400, "avatars need a user id of 1-128 of A-Z a-z 0-9 . _ @ | = + -")
    body = await read_json(request, UploadRequest, empty_ok=True)
    allowed = ctx.settings.upload_type_set()
    if body.content_type not in allowed:
        raise Problem(
            415,
            f"{body.content_type!r} is not accepted; send one of {', '.join(sorted(allowed))}",
            type_=PROBLEMS + "unsupported-type",
        )
    now = ctx.clock()
    upload_id = uuid.uuid4().hex
    expires_at = now + timedelta(seconds=ctx.settings.upload_url_ttl_seconds)
    max_bytes = ctx.settings.upload_max_bytes
    doc = {
        "_id": upload_id,
        "user": user,
        "state": "pending",
        "content_type": body.content_type,
        "max_bytes": max_bytes,
        "created_at": now,
        "expires_at": expires_at,
        "updated_at": now,
        "history": [{"state": "pending", "at": now}],
    }
    await ctx.uploads.create(doc)
    ticket = await ctx.blobs.upload_ticket(
        upload_id, body.content_type, max_bytes, expires_at, base_url(request, ctx)
    )
    status_url = f"/avatars/uploads/{upload_id}"
    answer = {**view(doc), "upload": ticket.view(), "status_url": status_url}
    return web.json_response(answer, status=201, headers={"Location": status_url})


async def mark_received(ctx: Context, doc: dict[str, Any], size: int) -> dict[str, Any]:
    """The bytes are stored: enter `received`, then start the workflow (acks=all)."""
    now = ctx.clock()
    await ctx.uploads.move(doc["_id"], "received", now, {"size": size, "completed_at": now})
    await ctx.announcer.state(doc, "received")
    await start_workflow(ctx, doc, size)
    return {**doc, "state": "received", "size": size}


async def start_workflow(ctx: Context, doc: dict[str, Any], size: int) -> None:
    event = AVATAR_UPLOADED.new(
        AvatarUploaded(
            upload_id=doc["_id"], user=doc["user"], size=size, content_type=doc["content_type"]
        ),
        source="avatars",
        subject=doc["_id"],
    )
    await ctx.bus.publish(AVATAR_UPLOADED, event)


@routes.post("/avatars/uploads/{id}/complete")
async def complete(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    doc = await owned(request, ctx)
    if doc["state"] == "pending":
        if ctx.settings.blob_backend == "local":
            raise Problem(
                409, "send the image to the upload URL first", type_=PROBLEMS + "not-uploaded"
            )
        size = await ctx.blobs.size(incoming_key(doc["_id"]))
        if size is None:
            raise Problem(409, "nothing was uploaded yet", type_=PROBLEMS + "not-uploaded")
        if size > doc["max_bytes"]:
            await ctx.blobs.delete([incoming_key(doc["_id"])])
            raise Problem(413, f"the upload exceeds {doc['max_bytes']} bytes")
        if await claim(ctx.db["avatar_claims"], f"ticket:{doc['_id']}", {"at": ctx.clock()}):
            doc = await mark_received(ctx, doc, size)
    elif doc["state"] == "received":
        # Completed, but the workflow may not have heard of it (its publish failed): say it again.
        await start_workflow(ctx, doc, int(doc.get("size", 0)))
    fresh = await ctx.uploads.get(doc["_id"]) or doc
    return web.json_response(view(fresh), status=202)


@routes.get("/avatars/uploads/{id}")
async def status(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    doc = await owned(request, ctx)
    return web.json_response(view(doc), headers={"Cache-Control": "no-store"})


@routes.get("/avatars/me")
async def me(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    user = user_id(request)
    profile = await ctx.db[PROFILES].find_one({"_id": user})
    if profile is None:
        raise Problem(404, "no avatar published yet", type_=PROBLEMS + "no-avatar")
    body = {"user": user, "version": profile["version"], "urls": profile.get("urls", {}),
            "published_at": profile["at"].isoformat()}  # fmt: skip
    return web.json_response(body, headers={"Cache-Control": "no-store"})
