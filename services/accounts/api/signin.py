"""Sign-in, token refresh, the browser session's access tokens, and sign-out.

Sign-in answers an ES256 access token, a rotating refresh token and, for browsers, the
`surge_session` cookie. Defences against credential stuffing: a per-identifier exponential
back-off (429 with Retry-After, for known and unknown addresses alike), one refusal for every
wrong combination (same status and body), and the same argon2id work whether the account exists
or not. Legacy hashes verify once and are replaced by argon2id; argon2id hashes made with lower
parameters than configured are rehashed.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.accounts.api.common import (
    bad_credentials,
    body,
    caller,
    client_ip,
    context,
    no_store,
)
from services.accounts.api.signup import announce
from services.accounts.credentials import totp
from services.accounts.credentials.hashing import Verdict
from services.accounts.keys import PROBLEMS, Context
from services.accounts.records.identifiers import IdentifierError, normal_email
from services.accounts.records.profile import Personal
from services.accounts.records.store import Account
from services.accounts.tokens.sessions import COOKIE, RefreshError, Session
from shared.http.problems import Problem
from shared.storeops import claim

routes = web.RouteTableDef()
FIRST_PARTY_SCOPE = "openid profile email"


class SigninIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    otp: str | None = Field(default=None, max_length=16, description="TOTP code, when enabled")
    recovery_code: str | None = Field(default=None, max_length=32)


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(max_length=512)


class SignoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str | None = Field(default=None, max_length=512)


async def check_password(ctx: Context, account: Account | None, password: str) -> Verdict:
    """The account's argon2id hash, else its imported legacy hashes; the dummy for nobody."""
    if account is None or not account.active or not (account.password or account.old_hashes):
        return await ctx.hasher.verify(None, password)
    if account.password:
        verdict = await ctx.hasher.verify(account.password, password)
        if verdict.ok:
            return verdict
    for legacy in account.old_hashes:
        if (await ctx.hasher.verify(legacy["hash"], password)).ok:
            return Verdict(True, rehash=True)
    return Verdict(False)


async def second_factor(ctx: Context, account: Account, form: SigninIn) -> list[str]:
    """The amr values of a passed second factor; 401 problems otherwise."""
    if form.recovery_code:
        digest = totp.recovery_hash(ctx.prf, account.id, form.recovery_code)
        if digest in account.recovery and await claim(
            ctx.tokens, f"recovery:{digest}", {"at": ctx.clock()}
        ):
            return ["pwd", "mfa", "recovery"]
        raise _mfa("the recovery code is not valid")
    if not form.otp:
        raise _mfa("enter the code from your authenticator app", required=True)
    personal = await ctx.accounts.personal(account)
    secret = personal.totp_secret if personal else None
    step = totp.matching_step(secret, form.otp, ctx.clock()) if secret else None
    if step is None or not await claim(ctx.tokens, f"otp:{account.id}:{step}", {"at": ctx.clock()}):
        raise _mfa("the code is not valid")
    return ["pwd", "mfa", "otp"]


def _mfa(detail: str, *, required: bool = False) -> Problem:
    return Problem(
        401,
        detail,
        title="Second factor required",
        type_=PROBLEMS + "mfa-required",
        extra={"mfa_required": True, "missing": required},
    )


@routes.post("/accounts/api/signin")
async def signin(request: web.Request) -> web.StreamResponse:
    ctx = context(request)
    form = await body(request, SigninIn)
    try:
        email = normal_email(form.email)
    except IdentifierError:
        email = form.email.strip().lower()  # looked up, not found: the same refusal
    throttle = f"signin:{ctx.prf.of('email', email)}"
    wait = await ctx.backoff.wait_seconds(throttle)
    if wait > 0:
        seconds = str(max(1, round(wait)))
        raise Problem(
            429,
            f"too many failed attempts: try again in {seconds} s",
            type_=PROBLEMS + "backoff",
            headers={"Retry-After": seconds},
        )
    account = await ctx.accounts.lookup(ctx.accounts.email_key(email))
    verdict = await check_password(ctx, account, form.password)
    if not verdict.ok or account is None:
        await ctx.backoff.failed(throttle)
        raise bad_credentials()
    amr = ["pwd"]
    if account.totp:
        try:
            amr = await second_factor(ctx, account, form)
        except Problem:
            if form.otp or form.recovery_code:
                await ctx.backoff.failed(throttle)
            raise
    if ctx.settings.require_verified_email and not account.email_verified:
        raise Problem(
            403,
            "confirm your email address first: open the link we sent you",
            type_=PROBLEMS + "email-not-verified",
            extra={"resend": "/accounts/api/verify/resend"},
        )
    await ctx.backoff.succeeded(throttle)
    if verdict.rehash:
        account = await _upgrade(ctx, account, form.password)
    session, refresh = await ctx.sessions.start(
        account.id,
        scope=FIRST_PARTY_SCOPE,
        amr=amr,
        ip=client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
    )
    response = web.json_response(_tokens(ctx, account, session, refresh))
    set_session_cookie(ctx, response, session)
    return no_store(response)


async def _upgrade(ctx: Context, account: Account, password: str) -> Account:
    hashed = await ctx.hasher.hash(password)

    async def upgraded(_account: Account, _personal: Personal | None) -> dict[str, Any]:
        return {"password": hashed, "old_hashes": []}

    updated = await ctx.accounts.write(account.id, upgraded, decrypt=False)
    await announce(ctx, updated, "password", ["password"])
    return updated


def access_token(ctx: Context, account: Account, session: Session) -> tuple[str, int]:
    """An access token for this account in this session (and its lifetime)."""
    return ctx.issuer.access_token(
        account.id,
        sid=session.id,
        scope=session.scope,
        roles=account.roles,
        amr=session.amr,
        auth_time=session.auth_time,
        client_id=session.client_id,
    )


def _tokens(ctx: Context, account: Account, session: Session, refresh: str) -> dict[str, Any]:
    access, ttl = access_token(ctx, account, session)
    return {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": ttl,
        "refresh_token": refresh,
        "scope": session.scope,
        "session_id": session.id,
        "account_id": account.id,
    }


def set_session_cookie(ctx: Context, response: web.StreamResponse, session: Session) -> None:
    response.set_cookie(
        COOKIE,
        ctx.sessions.cookie(session.id),
        path="/accounts/",
        max_age=max(1, int(session.expires_at - ctx.clock())),
        httponly=True,
        samesite="Lax",
        secure=ctx.settings.issuer.startswith("https://"),
    )


def refresh_refused(reason: str) -> Problem:
    detail = {
        "reused": "this refresh token was already used: the session has been ended",
        "expired": "the session has expired: sign in again",
    }.get(reason, "the refresh token is not valid: sign in again")
    return Problem(401, detail, type_=PROBLEMS + "refresh-refused", extra={"reason": reason})


@routes.post("/accounts/api/token/refresh")
async def refresh(request: web.Request) -> web.StreamResponse:
    ctx = context(request)
    form = await body(request, RefreshIn)
    try:
        session, token = await ctx.sessions.refresh(
            form.refresh_token,
            client_id=None,
            ip=client_ip(request),
            user_agent=request.headers.get("User-Agent", ""),
        )
    except RefreshError as refused:
        raise refresh_refused(refused.reason) from None
    account = await ctx.accounts.get(session.account)
    if account is None or not account.active:
        await ctx.sessions.end(session.id, "account_gone")
        raise refresh_refused("ended")
    return no_store(web.json_response(_tokens(ctx, account, session, token)))


@routes.post("/accounts/api/session/token")
async def session_token(request: web.Request) -> web.StreamResponse:
    """A fresh access token for the browser's session (cookie), for the platform's pages."""
    ctx = context(request)
    session = await ctx.sessions.by_cookie(request.cookies.get(COOKIE))
    account = await ctx.accounts.get(session.account) if session else None
    if session is None or account is None or not account.active:
        raise Problem(
            401,
            "no session: sign in",
            type_=PROBLEMS + "no-session",
            extra={"signin": "/accounts/signin"},
        )
    access, ttl = access_token(ctx, account, session)
    answer = {"access_token": access, "token_type": "Bearer", "expires_in": ttl}
    return no_store(web.json_response({**answer, "account_id": account.id}))


@routes.post("/accounts/api/signout")
async def signout(request: web.Request) -> web.StreamResponse:
    """End the session named by the cookie, a refresh token or the access token's `sid`."""
    ctx = context(request)
    form = await body(request, SignoutIn) if request.can_read_body else SignoutIn()
    sid = None
    session = await ctx.sessions.by_cookie(request.cookies.get(COOKIE))
    if session is not None:
        sid = session.id
    elif form.refresh_token:
        try:
            sid = ctx.sessions.parse(form.refresh_token)[0]
        except RefreshError:
            sid = None
    elif "Authorization" in request.headers:
        sid = caller(request).get("sid")
    if sid:
        await ctx.sessions.end(str(sid), "signout")
    response = web.Response(status=204)
    response.del_cookie(COOKIE, path="/accounts/")
    return no_store(response)
