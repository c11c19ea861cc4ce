"""The accounts collection and its lookups, on the platform's store rules (docs/architecture.md).

- `accounts`: one document per person, `_id` = the account UUID (the tokens' `sub`). In clear:
  status, verification flags, roles, credential hashes, the blind indexes of email and phone,
  timestamps, a revision; everything personal is in `sealed` (kek, wrapped data key, blob).
- `lookups`: `email:<index>`, `phone:<index>`, `link:<tenant>:<index>` -> account id. Inserted
  with `claim`, so two sign-ups with one address cannot both win.
- `revisions`: `<account>:<rev>`. FerretDB updates are not atomic, so every write of an account
  first claims its next revision; the one writer that wins writes, the others re-read and retry.
  That keeps a data-key re-wrap and a profile edit from mixing one's key with the other's blob.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, IndexModel

from services.accounts.crypto.blindindex import BlindIndex
from services.accounts.crypto.envelope import Envelope, Sealed
from services.accounts.records.profile import Personal
from shared.store import Store
from shared.storeops import claim

REVISION_TTL_SECONDS = 86_400
STALE_CLAIM_SECONDS = 30.0
ATTEMPTS = 12


class ConflictError(Exception):
    """An identifier already belongs to another account, or a write kept losing its race."""


@dataclass
class Account:
    id: str
    status: str
    email_index: str
    phone_index: str | None = None
    email_verified: bool = False
    phone_verified: bool = False
    password: str | None = None
    old_hashes: list[dict[str, str]] = field(default_factory=list)
    totp: bool = False
    recovery: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    tenants: list[str] = field(default_factory=list)
    created_at: float = 0.0
    updated_at: float = 0.0
    rev: int = 0
    sealed: Sealed | None = None

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Account:
        sealed = doc.get("sealed")
        return cls(
            id=doc["_id"],
            status=doc["status"],
            email_index=doc.get("email_index", ""),
            phone_index=doc.get("phone_index"),
            email_verified=bool(doc.get("email_verified")),
            phone_verified=bool(doc.get("phone_verified")),
            password=doc.get("password"),
            old_hashes=list(doc.get("old_hashes") or []),
            totp=bool(doc.get("totp")),
            recovery=list(doc.get("recovery") or []),
            roles=list(doc.get("roles") or []),
            tenants=list(doc.get("tenants") or []),
            created_at=float(doc.get("created_at", 0)),
            updated_at=float(doc.get("updated_at", 0)),
            rev=int(doc.get("rev", 0)),
            sealed=Sealed.of(sealed) if sealed else None,
        )

    @property
    def active(self) -> bool:
        return self.status == "active"


Change = Callable[[Account, Personal | None], Awaitable[dict[str, Any]]]


class Accounts:
    def __init__(
        self,
        store: Store,
        envelope: Envelope,
        index: BlindIndex,
        clock: Callable[[], float] = time.time,
    ) -> None:
        db = store.db
        self.store = store
        self.coll = db["accounts"]
        self.lookups = db["lookups"]
        self.revisions = db["revisions"]
        self.envelope = envelope
        self.index = index
        self.clock = clock

    @staticmethod
    def indexes() -> dict[str, list[IndexModel]]:
        return {
            "revisions": [
                IndexModel([("at_date", ASCENDING)], expireAfterSeconds=REVISION_TTL_SECONDS)
            ],
        }

    # --- crypto (in a thread when the key manager is remote) ---

    async def _crypto(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self.envelope.keys.blocking:
            return await asyncio.to_thread(fn, *args)
        return fn(*args)

    async def seal(self, account_id: str, personal: Personal) -> Sealed:
        plaintext = personal.model_dump_json().encode()
        sealed: Sealed = await self._crypto(self.envelope.seal, plaintext, account_id.encode())
        return sealed

    async def personal(self, account: Account) -> Personal | None:
        if account.sealed is None:
            return None
        plain = await self._crypto(self.envelope.open, account.sealed, account.id.encode())
        return Personal.model_validate_json(plain)

    # --- reads ---

    async def get(self, account_id: str) -> Account | None:
        doc = await self.coll.find_one({"_id": account_id})
        return Account.of(doc) if doc else None

    def email_key(self, email: str) -> str:
        return f"email:{self.index.of('email', email)}"

    def phone_key(self, phone: str) -> str:
        return f"phone:{self.index.of('phone', phone)}"

    def link_key(self, tenant: str, external_id: str) -> str:
        return f"link:{tenant}:{self.index.of('link', f'{tenant}:{external_id}')}"

    async def lookup(self, key: str) -> Account | None:
        found = await self.lookups.find_one({"_id": key})
        if found is None:
            return None
        account = await self.get(found["account"])
        return account if account is not None and account.status != "deleted" else None

    # --- writes ---

    async def bind(self, key: str, account_id: str) -> bool:
        """Point a lookup at an account; False when it points at another live one."""
        for _ in range(3):
            if await claim(self.lookups, key, {"account": account_id, "at": self.clock()}):
                return True
            found = await self.lookups.find_one({"_id": key})
            if found is None:
                continue
            if found["account"] == account_id:
                return True
            owner = await self.get(found["account"])
            orphaned = owner is None and self.clock() - found.get("at", 0) > STALE_CLAIM_SECONDS
            if owner is not None and owner.status != "deleted":
                return False
            if owner is None and not orphaned:
                return False  # being created right now by another request
            await self.lookups.delete_one({"_id": key, "account": found["account"]})
        return False

    async def unbind(self, key: str, account_id: str) -> None:
        await self.lookups.delete_one({"_id": key, "account": account_id})

    async def create(
        self,
        personal: Personal,
        *,
        email_verified: bool,
        phone_verified: bool = False,
        password: str | None = None,
        old_hashes: list[dict[str, str]] | None = None,
        tenants: list[str] | None = None,
        roles: list[str] | None = None,
        keys: list[str] | None = None,
    ) -> Account:
        """A new account bound to its email (and phone, and any extra lookup `keys`); raises
        ConflictError when one of them belongs to another account."""
        account_id = str(uuid.uuid4())
        email_key = self.email_key(personal.email)
        phone_key = self.phone_key(personal.phone) if personal.phone else None
        bound: list[str] = []
        for key in [email_key, *([phone_key] if phone_key else []), *(keys or [])]:
            if not await self.bind(key, account_id):
                for done in bound:
                    await self.unbind(done, account_id)
                raise ConflictError(key.split(":", 1)[0])
            bound.append(key)
        now = self.clock()
        sealed = await self.seal(account_id, personal)
        doc = {
            "_id": account_id,
            "status": "active",
            "email_index": email_key.split(":", 1)[1],
            "phone_index": phone_key.split(":", 1)[1] if phone_key else None,
            "email_verified": email_verified,
            "phone_verified": phone_verified,
            "password": password,
            "old_hashes": old_hashes or [],
            "totp": False,
            "recovery": [],
            "roles": roles or [],
            "tenants": tenants or [],
            "created_at": now,
            "updated_at": now,
            "rev": 1,
            "sealed": sealed.document(),
        }
        await claim(self.revisions, f"{account_id}:1", {"at": now, "at_date": _date(now)})
        await self.coll.insert_one(doc)
        return Account.of(doc)

    async def write(self, account_id: str, change: Change, *, decrypt: bool = True) -> Account:
        """Apply `change` (account, personal data) -> fields to `$set` under the account's next
        revision. A `personal` key in the fields is sealed with a fresh data key."""
        for attempt in range(ATTEMPTS):
            doc = await self.coll.find_one({"_id": account_id})
            if doc is None:
                raise LookupError(account_id)
            account = Account.of(doc)
            personal = await self.personal(account) if decrypt else None
            fields = await change(account, personal)
            rev = account.rev + 1
            now = self.clock()
            mark = {"at": now, "at_date": _date(now)}
            if not await claim(self.revisions, f"{account_id}:{rev}", mark):
                stale = await self._stale(account_id, rev)
                if not (stale and await claim(self.revisions, f"{account_id}:{rev + 1}", mark)):
                    await asyncio.sleep(random.uniform(0, 0.01 * (attempt + 1)))
                    continue
                rev += 1
            if "personal" in fields:
                updated = fields.pop("personal")
                fields["sealed"] = (
                    None if updated is None else (await self.seal(account_id, updated)).document()
                )
            fields.update(rev=rev, updated_at=now)
            await self.coll.update_one({"_id": account_id, "rev": account.rev}, {"$set": fields})
            return Account.of({**doc, **fields})
        raise ConflictError("busy")

    async def _stale(self, account_id: str, rev: int) -> bool:
        """A claimed revision whose writer never wrote it (it crashed): move past it."""
        held = await self.revisions.find_one({"_id": f"{account_id}:{rev}"})
        return held is not None and self.clock() - float(held.get("at", 0)) > STALE_CLAIM_SECONDS


def _date(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
