"""Sign-up and email verification.

`POST /accounts/api/signup` answers 202 whether or not the address was free, so sign-up does not
reveal who has an account: a new address gets a verification link, a registered one a notice
that someone tried to sign up with it (only its owner learns that). The password is hashed in
both cases, so both take the same time.

`POST /accounts/api/verify` consumes the one-time link's token (claimed: a second use fails).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import urlencode

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.accounts.api.common import body, context, no_store
from services.accounts.credentials.policy import WeakPasswordError, check_password
from services.accounts.keys import PROBLEMS, Context
from services.accounts.mail import Mail
from services.accounts.records.identifiers import IdentifierError, normal_email, normal_phone
from services.accounts.records.profile import Personal, Profile
from services.accounts.records.store import Account, ConflictError
from services.accounts.returnpath import safe_return
from shared.events.contracts.accounts import ACCOUNT_CHANGED, AccountChanged, SealedRecord
from shared.http.problems import Problem
from shared.storeops import claim

routes = web.RouteTableDef()
ACCEPTED = {"status": "verification_sent", "detail": "check your inbox for a verification link"}


class SignupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    phone: str | None = Field(default=None, max_length=32)
    profile: Profile = Profile()
    return_to: str | None = Field(default=None, alias="return", max_length=2048)


class EmailIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)
    return_to: str | None = Field(default=None, alias="return", max_length=2048)


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=10, max_length=200)


def checked_password(ctx: Context, password: str, *inputs: str | None) -> None:
    try:
        check_password(
            password,
            min_length=ctx.settings.password_min_length,
            min_score=ctx.settings.password_min_score,
            user_inputs=[value for value in inputs if value],
        )
    except WeakPasswordError as weak:
        raise Problem(
            400,
            f"password refused: {weak.reason}",
            title="Weak password",
            type_=PROBLEMS + "weak-password",
            extra={"suggestions": weak.suggestions},
        ) from None


def identifiers(email: str, phone: str | None) -> tuple[str, str | None]:
    try:
        return normal_email(email), normal_phone(phone) if phone else None
    except IdentifierError as exc:
        raise Problem(400, str(exc), type_=PROBLEMS + "invalid-identifier") from None


@routes.post("/accounts/api/signup")
async def signup(request: web.Request) -> web.StreamResponse:
    ctx = context(request)
    form = await body(request, SignupIn)
    email, phone = identifiers(form.email, form.phone)
    profile = form.profile
    checked_password(ctx, form.password, email, profile.name, profile.given_name)
    hashed = await ctx.hasher.hash(form.password)  # also when the address is taken: same time
    personal = Personal(email=email, phone=phone, profile=profile)
    back = safe_return(form.return_to)
    try:
        account = await ctx.accounts.create(personal, email_verified=False, password=hashed)
    except ConflictError as conflict:
        await _notice(ctx, email, str(conflict))
        return no_store(web.json_response(ACCEPTED, status=202))
    await announce(ctx, account, "created", ["email", "phone", "profile", "password"])
    await send_verification(ctx, account, email, back)
    return no_store(web.json_response(ACCEPTED, status=202))


async def announce(ctx: Context, account: Account, change: str, fields: list[str]) -> None:
    payload = AccountChanged(
        account_id=account.id,
        revision=account.rev,
        change=change,  # type: ignore[arg-type]
        fields=fields,
        tenants=account.tenants,
        sealed=_sealed(account),
    )
    event = await ctx.events.stage(ACCOUNT_CHANGED, payload)
    await ctx.events.send(event)


def _sealed(account: Account) -> SealedRecord | None:
    if account.sealed is None:
        return None
    b64 = base64.b64encode
    return SealedRecord(
        kek=account.sealed.kek,
        dek=b64(account.sealed.dek).decode(),
        blob=b64(account.sealed.blob).decode(),
    )


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def send_verification(ctx: Context, account: Account, email: str, back: str) -> None:
    token = secrets.token_urlsafe(32)
    await ctx.tokens.insert_one(
        {
            "_id": f"verify:{_hash(token)}",
            "account": account.id,
            "expires_at": ctx.clock() + ctx.settings.verify_link_ttl_seconds,
        }
    )
    link = f"{ctx.settings.issuer}/verify?" + urlencode({"token": token, "return": back})
    text = (
        "Welcome to Surge.\n\nConfirm your email address by opening this link:\n\n"
        f"{link}\n\nIt works once and expires in "
        f"{ctx.settings.verify_link_ttl_seconds // 3600} hours. If you did not sign up, "
        "ignore this message.\n"
    )
    await ctx.mail.send(Mail(email, "Confirm your email address", text, link))


async def _notice(ctx: Context, email: str, taken: str) -> None:
    what = "this email address" if taken == "email" else "the phone number you gave"
    text = (
        f"Someone tried to create a Surge account with {what}, which already belongs to an "
        f"account. If it was you, sign in at {ctx.settings.issuer}/signin (or reset your "
        "password). Otherwise you can ignore this message.\n"
    )
    await ctx.mail.send(Mail(email, "Sign-up attempt with your address", text))


@routes.post("/accounts/api/verify/resend")
async def resend(request: web.Request) -> web.StreamResponse:
    ctx = context(request)
    form = await body(request, EmailIn)
    email, _ = identifiers(form.email, None)
    account = await ctx.accounts.lookup(ctx.accounts.email_key(email))
    if account is not None and not account.email_verified:
        await send_verification(ctx, account, email, safe_return(form.return_to))
    return no_store(web.json_response(ACCEPTED, status=202))


@routes.post("/accounts/api/verify")
async def verify(request: web.Request) -> web.StreamResponse:
    ctx = context(request)
    form = await body(request, VerifyIn)
    key = f"verify:{_hash(form.token)}"
    found = await ctx.tokens.find_one({"_id": key})
    used = "this link was already used, has expired or is not valid"
    if found is None or found["expires_at"] <= ctx.clock():
        raise Problem(400, used, type_=PROBLEMS + "link-invalid")
    if not await claim(ctx.tokens, f"used:{key}", {"at": ctx.clock()}):
        raise Problem(400, used, type_=PROBLEMS + "link-invalid")

    async def verified(_account: Account, _personal: Personal | None) -> dict[str, object]:
        return {"email_verified": True}

    try:
        account = await ctx.accounts.write(found["account"], verified, decrypt=False)
    except LookupError:
        raise Problem(400, used, type_=PROBLEMS + "link-invalid") from None
    await ctx.tokens.delete_one({"_id": key})
    await announce(ctx, account, "verified", ["email_verified"])
    return no_store(web.json_response({"verified": True}))
