"""Events the accounts service publishes (docs/accounts.md, "Events").

Neither carries personal data in clear: `accounts.changed` names what changed and, for systems
that keep a replica (another region), the account's sealed record (still encrypted under the
key manager's master key); `accounts.deleted` names the subject whose data every service must
drop. Both are keyed by the account id, so one account's events stay in order.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events.catalog import CATALOG, EventSpec


class SealedRecord(BaseModel):
    """The account's personal data as stored: still encrypted (base64 of the wrapped data key
    and the AES-256-GCM blob, with the id of the master key that wrapped the data key)."""

    model_config = ConfigDict(frozen=True)

    kek: str
    dek: str
    blob: str


class AccountChanged(BaseModel):
    model_config = ConfigDict(frozen=True)

    account_id: str = Field(description="The account UUID (the `sub` of its tokens)")
    revision: int = Field(ge=1, description="The account's revision after this change")
    change: Literal[
        "created", "verified", "profile", "password", "second_factor", "merged", "imported"
    ]
    fields: list[str] = Field(default=[], description="Names of the fields that changed")
    tenants: list[str] = Field(default=[], description="Tenants linked to the account")
    sealed: SealedRecord | None = Field(
        default=None, description="The sealed personal data, for replicas (never in clear)"
    )


class AccountDeleted(BaseModel):
    model_config = ConfigDict(frozen=True)

    account_id: str = Field(description="The erased account's UUID: drop what you keep of it")
    reason: Literal["user", "operator", "merged"] = "user"


ACCOUNT_CHANGED = CATALOG.register(
    EventSpec(
        type="accounts.changed.v1",
        topic="accounts.changed",
        payload=AccountChanged,
        key=lambda event: event.account_id,
        key_doc="account_id, so one account's changes stay in order",
        description="An account was created or changed (profile, verification, credentials, "
        "tenant links). Consumers are idempotent by event id and compare revisions.",
    )
)

ACCOUNT_DELETED = CATALOG.register(
    EventSpec(
        type="accounts.deleted.v1",
        topic="accounts.deleted",
        payload=AccountDeleted,
        key=lambda event: event.account_id,
        key_doc="account_id",
        description="An account was erased (its data key destroyed): every service drops what "
        "it keeps about that subject (notifier subscriptions, avatars, tracking ids).",
    )
)
