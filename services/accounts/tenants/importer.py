"""A tenant's users in bulk: one account per person across tenants.

Each imported user is linked to the tenant by its external id (`link:<tenant>:<index>`, so a
re-import changes nothing). Then, by the blind indexes of email and phone:

- nobody matches: a new account, its password the tenant's legacy hash until the first sign-in;
- one account matches by an address both sides verified: merged (the tenant's link added,
  empty profile fields filled, differing ones kept and noted as conflicts, the legacy hash kept
  as another way in until the first sign-in), and the merge is recorded in its history;
- anything else (an unverified match, email and phone pointing at two accounts): queued for an
  operator (`reviews`), the imported record sealed like any personal data.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.accounts.api.signup import announce
from services.accounts.credentials.hashing import UnsupportedHashError, scheme_of
from services.accounts.keys import Context
from services.accounts.records.identifiers import IdentifierError, normal_email, normal_phone
from services.accounts.records.profile import Personal, Profile, TenantLink
from services.accounts.records.store import Account, ConflictError
from shared.storeops import claim


class ImportUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    external_id: str = Field(min_length=1, max_length=200, description="The tenant's user id")
    email: str = Field(max_length=320)
    email_verified: bool = False
    phone: str | None = Field(default=None, max_length=32)
    phone_verified: bool = False
    profile: Profile = Profile()
    password_hash: str | None = Field(
        default=None, max_length=512, description="bcrypt, PBKDF2-SHA256 or argon2id"
    )

    @field_validator("password_hash")
    @classmethod
    def _supported(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                scheme_of(value)
            except UnsupportedHashError as exc:
                raise ValueError(str(exc)) from None
        return value


class ImportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: list[ImportUser] = Field(min_length=1)


Outcome = Literal["created", "merged", "unchanged", "review", "error"]


@dataclass
class Result:
    external_id: str
    outcome: Outcome
    account_id: str | None = None
    review_id: str | None = None
    reason: str | None = None

    def view(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class Importer:
    def __init__(self, ctx: Context, tenant: str) -> None:
        self.ctx, self.tenant = ctx, tenant
        self.db = ctx.accounts.store.db

    async def run(self, users: list[ImportUser]) -> list[Result]:
        return [await self.one(user) for user in users]

    async def one(self, user: ImportUser) -> Result:
        accounts = self.ctx.accounts
        link_key = accounts.link_key(self.tenant, user.external_id)
        linked = await accounts.lookup(link_key)
        if linked is not None:
            return Result(user.external_id, "unchanged", account_id=linked.id)
        try:
            email = normal_email(user.email)
            phone = normal_phone(user.phone) if user.phone else None
        except IdentifierError as exc:
            return Result(user.external_id, "error", reason=str(exc))
        by_email = await accounts.lookup(accounts.email_key(email))
        by_phone = await accounts.lookup(accounts.phone_key(phone)) if phone else None
        link = TenantLink(
            tenant=self.tenant,
            external_id=user.external_id,
            profile=user.profile.model_dump(mode="json", exclude_none=True),
            linked_at=self.ctx.clock(),
            via="import",
        )
        if by_email is None and by_phone is None:
            return await self._create(user, email, phone, link, link_key)
        if by_email is not None and by_phone is not None and by_email.id != by_phone.id:
            reason = "the email and the phone number belong to two different accounts"
            return await self._review(user, reason, [by_email.id, by_phone.id])
        target = by_email or by_phone
        assert target is not None
        if by_email is not None and user.email_verified and target.email_verified:
            return await self.merge(target, user, link, link_key, matched_by="email")
        if by_email is None and user.phone_verified and target.phone_verified:
            return await self.merge(target, user, link, link_key, matched_by="phone")
        what = "email" if by_email is not None else "phone number"
        reason = f"the {what} matches an account, but it is not verified on both sides"
        return await self._review(user, reason, [target.id])

    async def _create(
        self, user: ImportUser, email: str, phone: str | None, link: TenantLink, link_key: str
    ) -> Result:
        personal = Personal(email=email, phone=phone, profile=user.profile, links=[link])
        hashes = [{"tenant": self.tenant, "hash": user.password_hash}] if user.password_hash else []
        try:
            account = await self.ctx.accounts.create(
                personal,
                email_verified=user.email_verified,
                phone_verified=user.phone_verified and phone is not None,
                old_hashes=hashes,
                tenants=[self.tenant],
                keys=[link_key],
            )
        except ConflictError as conflict:  # created meanwhile by another request: try again
            return Result(user.external_id, "error", reason=f"{conflict} taken meanwhile, retry")
        await announce(self.ctx, account, "imported", ["email", "phone", "profile", "links"])
        return Result(user.external_id, "created", account_id=account.id)

    async def merge(
        self,
        target: Account,
        user: ImportUser,
        link: TenantLink,
        link_key: str,
        *,
        matched_by: str,
        review: str | None = None,
    ) -> Result:
        conflicts: list[str] = []

        async def merged(account: Account, personal: Personal | None) -> dict[str, Any]:
            nonlocal conflicts
            assert personal is not None
            profile, conflicts = personal.profile.merged(user.profile)
            links = [item for item in personal.links if item.tenant != self.tenant]
            fields: dict[str, Any] = {
                "personal": personal.model_copy(
                    update={
                        "profile": profile,
                        "links": [*links, link.model_copy(update={"via": "merge"})],
                    }
                ),
                "tenants": sorted({*account.tenants, self.tenant}),
            }
            if user.password_hash:
                hashes = [h for h in account.old_hashes if h.get("tenant") != self.tenant]
                fields["old_hashes"] = [
                    *hashes,
                    {"tenant": self.tenant, "hash": user.password_hash},
                ]
            return fields

        if not await self.ctx.accounts.bind(link_key, target.id):
            return Result(user.external_id, "error", reason="linked to another account meanwhile")
        account = await self.ctx.accounts.write(target.id, merged)
        await self.db["merges"].insert_one(
            {
                "_id": str(uuid.uuid4()),
                "account": account.id,
                "tenant": self.tenant,
                "external_id": self.ctx.prf.of("link", f"{self.tenant}:{user.external_id}"),
                "matched_by": matched_by,
                "conflicts": conflicts,
                "review": review,
                "at": self.ctx.clock(),
            }
        )
        await announce(self.ctx, account, "merged", ["links", "profile"])
        return Result(user.external_id, "merged", account_id=account.id, reason=_noted(conflicts))

    async def _review(self, user: ImportUser, reason: str, candidates: list[str]) -> Result:
        review_id = (
            f"{self.tenant}:{self.ctx.prf.of('link', f'{self.tenant}:{user.external_id}')[:32]}"
        )
        record = json.dumps(user.model_dump(mode="json")).encode()
        sealed = self.ctx.envelope.seal(record, f"review:{review_id}".encode())
        await claim(
            self.db["reviews"],
            review_id,
            {
                "tenant": self.tenant,
                "status": "open",
                "reason": reason,
                "candidates": candidates,
                "sealed": sealed.document(),
                "created_at": self.ctx.clock(),
            },
        )
        return Result(user.external_id, "review", review_id=review_id, reason=reason)


def _noted(conflicts: list[str]) -> str | None:
    return f"kept the account's {', '.join(conflicts)}" if conflicts else None
