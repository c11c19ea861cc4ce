"""The signed-in person's own account: profile, password, sessions, second factor, erasure.

Every route needs an access token from this issuer (`caller`). Profile reads decrypt the sealed
personal data; writes seal it again with a fresh data key.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.accounts.api.common import (
    bad_credentials,
    body,
    caller,
    context,
    no_store,
)
from services.accounts.api.signin import check_password
from services.accounts.api.signup import announce, checked_password, identifiers
from services.accounts.credentials import totp
from services.accounts.erasure import erase
from services.accounts.keys import PROBLEMS, Context
from services.accounts.records.profile import Personal, Profile
from services.accounts.records.store import Account, ConflictError
from services.accounts.tokens.sessions import COOKIE
from shared.http.problems import Problem

routes = web.RouteTableDef()


class ProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profile: Profile | None = None
    phone: str | None = Field(default=None, max_length=32)


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(max_length=32)


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(max_length=1024)


async def me(request: web.Request) -> tuple[Context, Account, dict[str, Any]]:
    ctx = context(request)
    claims = caller(request)
    account = await ctx.accounts.get(str(claims["sub"]))
    if account is None or not account.active:
        raise Problem(401, "this account no longer exists", type_=PROBLEMS + "gone")
    return ctx, account, claims


def view(account: Account, personal: Personal | None) -> dict[str, Any]:
    return {
        "id": account.id,
        "email": personal.email if personal else None,
        "email_verified": account.email_verified,
        "phone": personal.phone if personal else None,
        "phone_verified": account.phone_verified,
        "profile": personal.profile.model_dump(mode="json", exclude_none=True) if personal else {},
        "roles": account.roles,
        "tenants": account.tenants,
        "second_factor": account.totp,
        "recovery_codes_left": len(account.recovery),
        "created_at": account.created_at,
        "updated_at": account.updated_at,
    }


@routes.get("/accounts/api/me")
async def read(request: web.Request) -> web.StreamResponse:
    ctx, account, _ = await me(request)
    return no_store(web.json_response(view(account, await ctx.accounts.personal(account))))


@routes.patch("/accounts/api/me")
async def update(request: web.Request) -> web.StreamResponse:
    ctx, account, _ = await me(request)
    form = await body(request, ProfileIn)
    new_phone = identifiers("a@example.com", form.phone)[1] if form.phone else None
    if new_phone:
        key = ctx.accounts.phone_key(new_phone)
        if not await ctx.accounts.bind(key, account.id):
            raise Problem(409, "this phone number belongs to another account")

    async def edited(_account: Account, personal: Personal | None) -> dict[str, Any]:
        assert personal is not None
        fields: dict[str, Any] = {}
        changes: dict[str, Any] = {}
        if form.profile is not None:
            changes["profile"] = form.profile
        if new_phone and new_phone != personal.phone:
            changes["phone"] = new_phone
            fields.update(phone_index=key.split(":", 1)[1], phone_verified=False)
        fields["personal"] = personal.model_copy(update=changes)
        return fields

    try:
        updated = await ctx.accounts.write(account.id, edited)
    except ConflictError:
        raise Problem(503, "the account is busy: try again", headers={"Retry-After": "1"}) from None
    if new_phone and account.phone_index and account.phone_index != updated.phone_index:
        await ctx.accounts.unbind(f"phone:{account.phone_index}", account.id)
    await announce(ctx, updated, "profile", ["profile", *(["phone"] if new_phone else [])])
    return no_store(web.json_response(view(updated, await ctx.accounts.personal(updated))))


@routes.post("/accounts/api/me/password")
async def change_password(request: web.Request) -> web.StreamResponse:
    ctx, account, claims = await me(request)
    form = await body(request, PasswordIn)
    if not (await check_password(ctx, account, form.current_password)).ok:
        raise bad_credentials()
    personal = await ctx.accounts.personal(account)
    checked_password(ctx, form.new_password, personal.email if personal else None)
    hashed = await ctx.hasher.hash(form.new_password)

    async def changed(_a: Account, _p: Personal | None) -> dict[str, Any]:
        return {"password": hashed, "old_hashes": []}

    updated = await ctx.accounts.write(account.id, changed, decrypt=False)
    # Every other session ends: whoever knew the old password is signed out.
    for session in await ctx.sessions.of_account(account.id):
        if session.id != claims.get("sid"):
            await ctx.sessions.end(session.id, "password_changed")
    await announce(ctx, updated, "password", ["password"])
    return web.Response(status=204)


@routes.get("/accounts/api/me/sessions")
async def sessions(request: web.Request) -> web.StreamResponse:
    ctx, account, claims = await me(request)
    listed = [
        {
            "id": s.id,
            "current": s.id == claims.get("sid"),
            "client_id": s.client_id,
            "created_at": s.created_at,
            "last_used_at": s.last_used_at,
            "expires_at": s.expires_at,
            "ip": s.ip,
            "user_agent": s.user_agent,
            "amr": s.amr,
        }
        for s in await ctx.sessions.of_account(account.id)
    ]
    return no_store(web.json_response({"sessions": listed}))


@routes.delete("/accounts/api/me/sessions/{sid}")
async def end_session(request: web.Request) -> web.StreamResponse:
    ctx, account, _ = await me(request)
    session = await ctx.sessions.get(request.match_info["sid"])
    if session is None or session.account != account.id:
        raise Problem(404, "no such session")
    await ctx.sessions.end(session.id, "ended_by_user")
    return web.Response(status=204)


@routes.post("/accounts/api/me/totp")
async def totp_begin(request: web.Request) -> web.StreamResponse:
    ctx, account, _ = await me(request)
    if account.totp:
        raise Problem(409, "the second factor is already on: turn it off first")
    secret = totp.new_secret()
    label = ""

    async def pending(_a: Account, personal: Personal | None) -> dict[str, Any]:
        nonlocal label
        assert personal is not None
        label = personal.email
        return {"personal": personal.model_copy(update={"pending_totp_secret": secret})}

    await ctx.accounts.write(account.id, pending)
    answer = {"secret": secret, "otpauth_uri": totp.provisioning_uri(secret, label)}
    return no_store(web.json_response(answer))


@routes.post("/accounts/api/me/totp/confirm")
async def totp_confirm(request: web.Request) -> web.StreamResponse:
    ctx, account, _ = await me(request)
    form = await body(request, CodeIn)
    personal = await ctx.accounts.personal(account)
    secret = personal.pending_totp_secret if personal else None
    if secret is None or totp.matching_step(secret, form.code, ctx.clock()) is None:
        raise Problem(400, "the code is not valid", type_=PROBLEMS + "otp-invalid")
    codes = totp.recovery_codes()
    hashes = [totp.recovery_hash(ctx.prf, account.id, code) for code in codes]

    async def enabled(_a: Account, current: Personal | None) -> dict[str, Any]:
        assert current is not None
        moved = current.model_copy(update={"totp_secret": secret, "pending_totp_secret": None})
        return {"personal": moved, "totp": True, "recovery": hashes}

    updated = await ctx.accounts.write(account.id, enabled)
    await announce(ctx, updated, "second_factor", ["totp"])
    return no_store(web.json_response({"enabled": True, "recovery_codes": codes}))


@routes.delete("/accounts/api/me/totp")
async def totp_disable(request: web.Request) -> web.StreamResponse:
    ctx, account, _ = await me(request)
    form = await body(request, ConfirmIn)
    if not (await check_password(ctx, account, form.password)).ok:
        raise bad_credentials()

    async def disabled(_a: Account, current: Personal | None) -> dict[str, Any]:
        assert current is not None
        cleared = current.model_copy(update={"totp_secret": None, "pending_totp_secret": None})
        return {"personal": cleared, "totp": False, "recovery": []}

    updated = await ctx.accounts.write(account.id, disabled)
    await announce(ctx, updated, "second_factor", ["totp"])
    return web.Response(status=204)


@routes.delete("/accounts/api/me")
async def delete(request: web.Request) -> web.StreamResponse:
    """Erasure: the data key is destroyed and `accounts.deleted` tells the other services."""
    ctx, account, _ = await me(request)
    form = await body(request, ConfirmIn)
    if not (await check_password(ctx, account, form.password)).ok:
        raise bad_credentials()
    await erase(ctx, account, reason="user")
    response = web.Response(status=204)
    response.del_cookie(COOKIE, path="/accounts/")
    return response
