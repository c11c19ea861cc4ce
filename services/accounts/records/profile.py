"""The personal data of an account, as sealed in its one encrypted blob.

`Personal` is everything personal: the OpenID Connect standard claims a person may fill in, the
email and phone in clear (outside the blob only their blind indexes exist), the tenants' links
with their payloads, and the second-factor secret. It is serialised, sealed and stored whole.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.accounts.records.identifiers import normal_phone

_TEXT = 200


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid")

    street_address: str | None = Field(default=None, max_length=_TEXT)
    locality: str | None = Field(default=None, max_length=_TEXT)
    region: str | None = Field(default=None, max_length=_TEXT)
    postal_code: str | None = Field(default=None, max_length=32)
    country: str | None = Field(default=None, max_length=64)


class Profile(BaseModel):
    """What a person edits on the account page and tenants may read when granted."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=_TEXT)
    given_name: str | None = Field(default=None, max_length=_TEXT)
    family_name: str | None = Field(default=None, max_length=_TEXT)
    nickname: str | None = Field(default=None, max_length=_TEXT)
    birthdate: date | None = None
    locale: str | None = Field(default=None, max_length=35)
    zoneinfo: str | None = Field(default=None, max_length=64)
    address: Address | None = None

    def merged(self, other: Profile) -> tuple[Profile, list[str]]:
        """Fill this profile's empty fields from `other`; also the fields both set differently
        (a conflict: this profile's value is kept)."""
        mine, theirs = self.model_dump(), other.model_dump()
        conflicts = []
        for field, value in theirs.items():
            if value is None:
                continue
            if mine.get(field) is None:
                mine[field] = value
            elif mine[field] != value:
                conflicts.append(field)
        return Profile.model_validate(mine), conflicts


class TenantLink(BaseModel):
    """One tenant's record of this person: its own user id and what it imported."""

    tenant: str
    external_id: str
    profile: dict[str, Any] = {}
    linked_at: float
    via: str  # "import", "signup", "merge"


class Personal(BaseModel):
    email: str
    phone: str | None = None
    profile: Profile = Profile()
    links: list[TenantLink] = []
    totp_secret: str | None = None
    pending_totp_secret: str | None = None

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        return None if value is None else normal_phone(value)
