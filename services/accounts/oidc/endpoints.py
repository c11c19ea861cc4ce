"""OpenID Connect endpoints under the issuer (/accounts):

GET  /.well-known/openid-configuration   discovery (Authlib's metadata model validates it)
GET  /.well-known/jwks.json              the signing keys, old ones until their tokens expire
GET  /authorize                          authorization code (+ PKCE S256, required for all)
POST /token                              authorization_code, refresh_token (rotating)
GET|POST /userinfo                       the claims the token's scope releases

A visitor without a session is sent to the sign-in page and back (`return`); there is no
consent screen: a tenant's applications get the scopes the operator granted the tenant.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from authlib.oauth2 import OAuth2Error
from authlib.oidc.discovery import OpenIDProviderMetadata

from services.accounts.api.common import caller, client_ip, context
from services.accounts.keys import Context
from services.accounts.oidc.server import LOADED, Code, Loaded, Refresh, Request, Server, userinfo
from services.accounts.records.store import Account
from services.accounts.tenants.store import SCOPES
from services.accounts.tokens.sessions import COOKIE, RefreshError
from shared.storeops import claim

routes = web.RouteTableDef()
MAX_FORM = 16 * 1024


def server(ctx: Context) -> Server:
    found = ctx.extras.get("oidc")
    if not isinstance(found, Server):
        found = ctx.extras["oidc"] = Server(ctx.issuer, list(SCOPES))
    return found


def metadata(ctx: Context) -> dict[str, Any]:
    base = ctx.settings.issuer
    document = OpenIDProviderMetadata(
        issuer=base,
        authorization_endpoint=f"{base}/authorize",
        token_endpoint=f"{base}/token",
        userinfo_endpoint=f"{base}/userinfo",
        jwks_uri=f"{base}/.well-known/jwks.json",
        scopes_supported=list(SCOPES),
        response_types_supported=["code"],
        response_modes_supported=["query"],
        grant_types_supported=["authorization_code", "refresh_token"],
        subject_types_supported=["public"],
        id_token_signing_alg_values_supported=["ES256"],
        token_endpoint_auth_methods_supported=[
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        code_challenge_methods_supported=["S256"],
        claims_supported=[
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "amr",
            "name",
            "given_name",
            "family_name",
            "nickname",
            "birthdate",
            "locale",
            "zoneinfo",
            "email",
            "email_verified",
            "phone_number",
            "phone_number_verified",
            "address",
        ],
    )
    # Every rule Authlib knows, but one: OIDC Discovery wants RS256 among the ID token
    # algorithms, and this issuer signs with ES256 only (docs/accounts.md, "Left out").
    for key in document.REGISTRY_KEYS:
        if key != "id_token_signing_alg_values_supported":
            getattr(document, f"validate_{key}")()
    return dict(document)


@routes.get("/accounts/.well-known/openid-configuration")
async def discovery(request: web.Request) -> web.Response:
    return web.json_response(metadata(context(request)), headers={"Cache-Control": "max-age=300"})


@routes.get("/accounts/.well-known/jwks.json")
async def jwks(request: web.Request) -> web.Response:
    return web.json_response(
        context(request).signing.jwks(), headers={"Cache-Control": "max-age=60"}
    )


def _oauth_request(ctx: Context, request: web.Request, form: dict[str, str]) -> Request:
    uri = ctx.settings.issuer + request.path_qs.removeprefix("/accounts")
    headers = {k: v for k, v in request.headers.items()}
    return Request(request.method, uri, headers, dict(request.query), form)


def _respond(status: int, body: Any, headers: list[tuple[str, str]]) -> web.Response:
    out = {k: v for k, v in headers if k.lower() != "content-type"}
    out.setdefault("Cache-Control", "no-store")
    if isinstance(body, dict):
        return web.json_response(body, status=status, headers=out)
    return web.Response(status=status, text=body or "", headers=out)


async def claims_of(ctx: Context, account: Account) -> dict[str, Any]:
    """The person's standard claims (decrypted now, released by scope later)."""
    personal = await ctx.accounts.personal(account)
    if personal is None:
        return {}
    claims: dict[str, Any] = {
        **personal.profile.model_dump(mode="json", exclude_none=True),
        "email": personal.email,
        "email_verified": account.email_verified,
    }
    if personal.phone:
        claims.update(phone_number=personal.phone, phone_number_verified=account.phone_verified)
    if personal.profile.address is not None:
        claims["address"] = personal.profile.address.model_dump(exclude_none=True)
    claims["updated_at"] = int(account.updated_at)
    return claims


@routes.get("/accounts/authorize")
async def authorize(request: web.Request) -> web.StreamResponse:
    ctx = context(request)
    loaded = Loaded(client=await ctx.tenants.client(request.query.get("client_id")))
    token = LOADED.set(loaded)
    try:
        oauth = _oauth_request(ctx, request, {})
        authlib = server(ctx)
        try:
            grant = authlib.get_consent_grant(request=oauth)
        except OAuth2Error as error:
            if error.redirect_uri:  # the client is known and the URI registered: tell it
                error.state = request.query.get("state")
                return _respond(*authlib.handle_error_response(oauth, error))
            description = error.description or error.error
            return web.Response(
                status=400,
                text=f"This sign-in request is not valid: {description}",
                headers={"Cache-Control": "no-store"},
            )
        session = await ctx.sessions.by_cookie(request.cookies.get(COOKIE))
        account = await ctx.accounts.get(session.account) if session else None
        if (
            session is None
            or account is None
            or not account.active
            or (request.query.get("prompt") == "login")
        ):
            back = request.path_qs.replace("prompt=login", "prompt=none")
            raise web.HTTPFound("/accounts/signin?" + urlencode({"return": back}))
        loaded.user = account
        status, body, headers = authlib.create_authorization_response(
            request=oauth, grant_user=account, grant=grant
        )
        for code, oauth_request in loaded.codes:
            await _store_code(ctx, code, oauth_request, account, session.amr, session.auth_time)
        return _respond(status, body, headers)
    finally:
        LOADED.reset(token)


def _code_key(code: str) -> str:
    return "code:" + hashlib.sha256(code.encode()).hexdigest()


async def _store_code(
    ctx: Context,
    code: str,
    request: Request,
    account: Account,
    amr: list[str],
    auth_time: float,
) -> None:
    payload = request.payload.data
    await ctx.tokens.insert_one(
        {
            "_id": _code_key(code),
            "client_id": payload.get("client_id"),
            "redirect_uri": payload.get("redirect_uri"),
            "scope": request.scope or "",
            "account": account.id,
            "nonce": payload.get("nonce"),
            "code_challenge": payload.get("code_challenge"),
            "code_challenge_method": payload.get("code_challenge_method", "S256"),
            "auth_time": auth_time,
            "amr": amr,
            "expires_at": ctx.clock() + ctx.settings.authorization_code_ttl_seconds,
        }
    )


def _client_id(request: web.Request, form: dict[str, str]) -> str | None:
    authorization = request.headers.get("Authorization", "")
    if authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization[6:].strip()).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[0] or None
    return form.get("client_id")


async def _form(request: web.Request) -> dict[str, str]:
    raw = await request.content.read(MAX_FORM + 1)
    if len(raw) > MAX_FORM:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_FORM, actual_size=len(raw))
    from urllib.parse import parse_qsl

    return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))


@routes.post("/accounts/token")
async def token(request: web.Request) -> web.StreamResponse:
    ctx = context(request)
    form = await _form(request)
    loaded = Loaded(client=await ctx.tenants.client(_client_id(request, form)))
    reset = LOADED.set(loaded)
    try:
        if loaded.client is not None:
            await _load_grant(ctx, request, form, loaded)
        status, body, headers = server(ctx).create_token_response(
            _oauth_request(ctx, request, form)
        )
        if status != 200 and loaded.new_session is not None:
            await ctx.sessions.end(loaded.new_session.id, "token_request_failed")
        return _respond(status, body, headers)
    finally:
        LOADED.reset(reset)


async def _load_grant(
    ctx: Context, request: web.Request, form: dict[str, str], loaded: Loaded
) -> None:
    """Everything the grant will ask for, claimed where it must be single-use."""
    assert loaded.client is not None
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code" and form.get("code"):
        key = _code_key(form["code"])
        doc = await ctx.tokens.find_one({"_id": key})
        if doc is None or doc["expires_at"] <= ctx.clock():
            return
        if not await claim(ctx.tokens, f"used:{key}", {"at": ctx.clock()}):
            return  # a second use of the code: refused as invalid_grant
        account = await ctx.accounts.get(doc["account"])
        if account is None or not account.active:
            return
        loaded.code, loaded.user = Code(doc), account
        loaded.userinfo = await claims_of(ctx, account)
        loaded.new_session, loaded.first_refresh = await ctx.sessions.start(
            account.id,
            client_id=loaded.client.client_id,
            scope=doc["scope"],
            amr=list(doc.get("amr") or ["pwd"]),
            ip=client_ip(request),
            user_agent=request.headers.get("User-Agent", ""),
        )
    elif grant_type == "refresh_token" and form.get("refresh_token"):
        try:
            session, next_token = await ctx.sessions.refresh(
                form["refresh_token"],
                client_id=loaded.client.client_id,
                ip=client_ip(request),
                user_agent=request.headers.get("User-Agent", ""),
            )
        except RefreshError:
            return  # refused as invalid_grant
        account = await ctx.accounts.get(session.account)
        if account is None or not account.active:
            return
        loaded.refresh, loaded.user = Refresh(session, next_token), account


@routes.get("/accounts/userinfo")
@routes.post("/accounts/userinfo")
async def userinfo_endpoint(request: web.Request) -> web.Response:
    ctx = context(request)
    claims = caller(request)
    account = await ctx.accounts.get(str(claims["sub"]))
    if account is None or not account.active:
        return web.json_response(
            {"error": "invalid_token"},
            status=401,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    scope = str(claims.get("scope", ""))
    released = userinfo(account, await claims_of(ctx, account), scope)
    return web.json_response(released, headers={"Cache-Control": "no-store"})
