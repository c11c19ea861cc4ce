"""The moderators' API (`Authorization: Bearer $ADMIN_TOKEN`; on the service's own port, not
routed by the gateway): the review queue (Rekognition + A2I's role) and the blocklist.

GET    /admin/avatars/reviews                 pending reviews, oldest first, with their labels
GET    /admin/avatars/reviews/{id}/image      the canonical image under review (WebP)
POST   /admin/avatars/reviews/{id}            {"decision": "approve"|"reject", "reason"?,
                                              "reviewer"?} -> 202; the workflow continues
GET    /admin/avatars/uploads/{id}            any upload's state
GET    /admin/avatars/blocklist               banned perceptual hashes
POST   /admin/avatars/blocklist               {"upload_id"} or {"phash"}, "reason"? -> 201
DELETE /admin/avatars/blocklist/{phash}       204
"""

from __future__ import annotations

import re
from typing import Literal

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.avatars.api.bodies import read_json
from services.avatars.keys import CONTEXT, PROBLEMS
from services.avatars.workflow.steps import canonical_key
from services.avatars.workflow.uploads import REVIEWS, view
from shared.events.contracts.avatars import AVATAR_REVIEW_DECIDED, AvatarReviewDecided
from shared.http.adminauth import check_admin_token
from shared.http.problems import Problem

routes = web.RouteTableDef()
PREFIX = "/admin/avatars"
PHASH = re.compile(r"^[0-9a-f]{16}$")
MAX_LISTED = 500


@web.middleware
async def require_admin(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(PREFIX):
        check_admin_token(request)
    return await handler(request)


class ReviewDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    reason: str = Field(default="", max_length=500)
    reviewer: str = Field(default="admin", min_length=1, max_length=128)


class Ban(BaseModel):
    model_config = ConfigDict(extra="forbid")

    upload_id: str | None = Field(default=None, pattern=r"^[a-f0-9]{32}$")
    phash: str | None = Field(default=None, pattern=PHASH.pattern)
    reason: str = Field(default="banned by a moderator", max_length=500)

    @model_validator(mode="after")
    def _one(self) -> Ban:
        if (self.upload_id is None) == (self.phash is None):
            raise ValueError("give exactly one of upload_id and phash")
        return self


@routes.get("/admin/avatars/reviews")
async def reviews(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    docs = await ctx.db[REVIEWS].find({}).sort("since", 1).to_list(MAX_LISTED)
    items = [
        {
            "upload_id": d["_id"],
            "user": d["user"],
            "labels": d.get("labels", []),
            "reason": d.get("reason", ""),
            "since": d["since"].isoformat(),
            "image": f"/admin/avatars/reviews/{d['_id']}/image",
        }
        for d in docs
    ]
    return web.json_response({"reviews": items})


async def _pending(request: web.Request) -> dict[str, object]:
    ctx = request.app[CONTEXT]
    doc = await ctx.uploads.get(request.match_info["id"])
    if doc is None or doc["state"] != "in_review":
        raise Problem(404, "no such upload waits for review", type_=PROBLEMS + "no-review")
    return doc


@routes.get("/admin/avatars/reviews/{id}/image")
async def review_image(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    doc = await _pending(request)
    data = await ctx.blobs.get(canonical_key(doc))
    if data is None:
        raise Problem(404, "the image is gone")
    return web.Response(body=data, content_type="image/webp", headers={"Cache-Control": "no-store"})


@routes.post("/admin/avatars/reviews/{id}")
async def decide(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    doc = await _pending(request)
    body = await read_json(request, ReviewDecision)
    decided = AvatarReviewDecided(
        upload_id=str(doc["_id"]),
        decision=body.decision,
        reviewer=body.reviewer,
        reason=body.reason,
    )
    event = AVATAR_REVIEW_DECIDED.new(decided, source="avatars", subject=decided.upload_id)
    await ctx.bus.publish(AVATAR_REVIEW_DECIDED, event)
    return web.json_response(
        {"upload_id": decided.upload_id, "decision": body.decision}, status=202
    )


@routes.get("/admin/avatars/uploads/{id}")
async def upload(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    doc = await ctx.uploads.get(request.match_info["id"])
    if doc is None:
        raise Problem(404, "no such upload", type_=PROBLEMS + "no-upload")
    return web.json_response({**view(doc), "user": doc["user"], "phash": doc.get("phash")})


@routes.get("/admin/avatars/blocklist")
async def blocklist(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    entries = [
        {"phash": d["_id"], "reason": d.get("reason", ""), "by": d.get("by"),
         "upload_id": d.get("upload_id"), "at": d["at"].isoformat()}
        for d in await ctx.blocklist.listing()
    ]  # fmt: skip
    return web.json_response({"entries": entries})


@routes.post("/admin/avatars/blocklist")
async def ban(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    body = await read_json(request, Ban)
    phash = body.phash
    if body.upload_id is not None:
        doc = await ctx.uploads.get(body.upload_id)
        if doc is None or not doc.get("phash"):
            raise Problem(404, "no inspected upload with that id", type_=PROBLEMS + "no-upload")
        phash = str(doc["phash"])
    assert phash is not None
    entry = await ctx.blocklist.add(phash, body.reason, "admin", body.upload_id)
    return web.json_response(
        {"phash": phash, "reason": entry["reason"], "upload_id": body.upload_id}, status=201
    )


@routes.delete("/admin/avatars/blocklist/{phash}")
async def unban(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    phash = request.match_info["phash"]
    if not PHASH.fullmatch(phash) or not await ctx.blocklist.remove(phash):
        raise Problem(404, "no such blocklist entry")
    return web.Response(status=204)
