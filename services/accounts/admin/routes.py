"""Operator API: tenants and their applications, bulk import, the review queue, merge history,
master- and signing-key rotation, erasure on request.

POST   /accounts/admin/tenants                         create a tenant
GET    /accounts/admin/tenants                         list
POST   /accounts/admin/tenants/{t}/applications        register an OIDC client (secret once)
GET    /accounts/admin/tenants/{t}/applications        list
POST   /accounts/admin/tenants/{t}/import              bulk import (merges duplicates)
GET    /accounts/admin/reviews                         open merge decisions
POST   /accounts/admin/reviews/{id}                    decide: merge into a candidate, or reject
GET    /accounts/admin/accounts/{id}/merges            merge history of an account
DELETE /accounts/admin/accounts/{id}                   erase an account (crypto-shredding)
GET    /accounts/admin/keys                            master keys in use, signing keys
POST   /accounts/admin/keys/master/rotate              new master key (local key manager)
POST   /accounts/admin/keys/signing/rotate             new signing key now
"""

from __future__ import annotations

import json
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from services.accounts.api.common import body, context
from services.accounts.crypto.envelope import Sealed
from services.accounts.crypto.masterkeys import LocalKeyset
from services.accounts.erasure import erase
from services.accounts.keys import REWRAPPER
from services.accounts.records.profile import TenantLink
from services.accounts.tenants.importer import Importer, ImportIn, ImportUser
from services.accounts.tenants.store import ApplicationIn, TenantIn
from shared.http.adminauth import admin_paths
from shared.http.problems import Problem

PREFIX = "/accounts/admin/"
routes = web.RouteTableDef()


require_admin = admin_paths(PREFIX)


@routes.post("/accounts/admin/tenants")
async def create_tenant(request: web.Request) -> web.Response:
    ctx = context(request)
    tenant = await body(request, TenantIn)
    if not await ctx.tenants.create(tenant):
        raise Problem(409, f"tenant {tenant.id!r} exists")
    return web.json_response(tenant.model_dump(), status=201)


@routes.get("/accounts/admin/tenants")
async def tenants(request: web.Request) -> web.Response:
    return web.json_response({"tenants": await context(request).tenants.listing()})


async def _tenant(request: web.Request) -> dict[str, Any]:
    found = await context(request).tenants.get(request.match_info["tenant"])
    if found is None:
        raise Problem(404, f"no tenant {request.match_info['tenant'][:64]!r}")
    return found


@routes.post("/accounts/admin/tenants/{tenant}/applications")
async def create_application(request: web.Request) -> web.Response:
    ctx = context(request)
    tenant = await _tenant(request)
    client, secret = await ctx.tenants.add_application(tenant, await body(request, ApplicationIn))
    answer = client.view()
    if secret:
        answer["client_secret"] = secret
    return web.json_response(answer, status=201, headers={"Cache-Control": "no-store"})


@routes.get("/accounts/admin/tenants/{tenant}/applications")
async def applications(request: web.Request) -> web.Response:
    ctx = context(request)
    tenant = await _tenant(request)
    listed = [c.view() for c in await ctx.tenants.applications(tenant["_id"])]
    return web.json_response({"applications": listed})


@routes.post("/accounts/admin/tenants/{tenant}/import")
async def bulk_import(request: web.Request) -> web.Response:
    ctx = context(request)
    tenant = await _tenant(request)
    batch = await body(request, ImportIn)
    if len(batch.users) > ctx.settings.import_max_users:
        raise Problem(413, f"at most {ctx.settings.import_max_users} users per request")
    results = await Importer(ctx, tenant["_id"]).run(batch.users)
    counts: dict[str, int] = {}
    for result in results:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    return web.json_response({"counts": counts, "results": [r.view() for r in results]})


@routes.get("/accounts/admin/reviews")
async def reviews(request: web.Request) -> web.Response:
    ctx = context(request)
    status = request.query.get("status", "open")
    found = ctx.accounts.store.db["reviews"].find({"status": status}).sort("created_at", 1)
    listed = [
        {
            "id": doc["_id"],
            "tenant": doc["tenant"],
            "reason": doc["reason"],
            "candidates": doc["candidates"],
            "created_at": doc["created_at"],
            "status": doc["status"],
        }
        async for doc in found.limit(500)
    ]
    return web.json_response({"reviews": listed})


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["merge", "reject"]
    account: str | None = None


@routes.post("/accounts/admin/reviews/{id}")
async def decide(request: web.Request) -> web.Response:
    ctx = context(request)
    decision = await body(request, Decision)
    reviews = ctx.accounts.store.db["reviews"]
    doc = await reviews.find_one({"_id": request.match_info["id"]})
    if doc is None or doc["status"] != "open":
        raise Problem(404, "no open review with this id")
    if decision.decision == "reject":
        await reviews.update_one({"_id": doc["_id"]}, {"$set": {"status": "rejected"}})
        return web.json_response({"id": doc["_id"], "status": "rejected"})
    if decision.account not in doc["candidates"]:
        raise Problem(400, "merge into one of the review's candidate accounts")
    target = await ctx.accounts.get(str(decision.account))
    if target is None or not target.active:
        raise Problem(409, "that account no longer exists")
    plain = ctx.envelope.open(Sealed.of(doc["sealed"]), f"review:{doc['_id']}".encode())
    user = ImportUser.model_validate(json.loads(plain))
    importer = Importer(ctx, doc["tenant"])
    link = TenantLink(
        tenant=doc["tenant"],
        external_id=user.external_id,
        profile=user.profile.model_dump(mode="json", exclude_none=True),
        linked_at=ctx.clock(),
        via="review",
    )
    link_key = ctx.accounts.link_key(doc["tenant"], user.external_id)
    result = await importer.merge(
        target, user, link, link_key, matched_by="operator", review=doc["_id"]
    )
    await reviews.update_one(
        {"_id": doc["_id"]}, {"$set": {"status": "merged", "account": target.id, "sealed": None}}
    )
    return web.json_response({"id": doc["_id"], "status": "merged", **result.view()})


@routes.get("/accounts/admin/accounts/{id}/merges")
async def merges(request: web.Request) -> web.Response:
    ctx = context(request)
    found = ctx.accounts.store.db["merges"].find({"account": request.match_info["id"]})
    history = [
        {k: doc.get(k) for k in ("tenant", "matched_by", "conflicts", "review", "at")}
        async for doc in found.sort("at", 1)
    ]
    return web.json_response({"merges": history})


@routes.delete("/accounts/admin/accounts/{id}")
async def delete_account(request: web.Request) -> web.Response:
    ctx = context(request)
    account = await ctx.accounts.get(request.match_info["id"])
    if account is None or not account.active:
        raise Problem(404, "no such account")
    await erase(ctx, account, reason="operator")
    return web.Response(status=204)


@routes.get("/accounts/admin/keys")
async def keys(request: web.Request) -> web.Response:
    ctx = context(request)
    return web.json_response(
        {
            "master": {
                "current": ctx.envelope.keys.current,
                "known": ctx.envelope.keys.known(),
                "records": await request.app[REWRAPPER].remaining(),
            },
            "signing": {
                "current": ctx.signing.current.kid,
                "published": [k.kid for k in ctx.signing.published()],
            },
        }
    )


@routes.post("/accounts/admin/keys/master/rotate")
async def rotate_master(request: web.Request) -> web.Response:
    ctx = context(request)
    keys = ctx.envelope.keys
    if not isinstance(keys, LocalKeyset):
        raise Problem(
            409,
            "with a remote key manager, rotate there or set the new key URI and list the old "
            "one in *_PREVIOUS_KEY_URIS; re-wrapping starts on restart",
        )
    kek = keys.rotate()
    request.app[REWRAPPER].trigger()
    return web.json_response({"current": kek, "rewrap": "started"}, status=202)


@routes.post("/accounts/admin/keys/signing/rotate")
async def rotate_signing(request: web.Request) -> web.Response:
    key = await context(request).signing.rotate()
    return web.json_response({"current": key.kid}, status=201)
