"""Right to erasure by crypto-shredding.

The account's sealed record (wrapped data key and blob) is removed, so no copy of the data, in
a backup or a replica, can be decrypted again: without its data key the blob is noise. The
lookups go, sessions end, credentials are dropped, and `accounts.deleted` (staged before the
write, see events.py) tells every other service to drop what it keeps about the subject. What
stays is a tombstone: the id, `status: deleted` and the time, so a late event cannot revive it.
"""

from __future__ import annotations

from typing import Any

from services.accounts.keys import Context
from services.accounts.records.profile import Personal
from services.accounts.records.store import Account
from shared.events.contracts.accounts import ACCOUNT_DELETED, AccountDeleted


async def erase(ctx: Context, account: Account, *, reason: str) -> None:
    event = await ctx.events.stage(
        ACCOUNT_DELETED,
        AccountDeleted(account_id=account.id, reason=reason),  # type: ignore[arg-type]
    )
    personal = await ctx.accounts.personal(account)

    async def shredded(_a: Account, _p: Personal | None) -> dict[str, Any]:
        return {
            "status": "deleted",
            "personal": None,  # the sealed record, data key included, is gone
            "password": None,
            "old_hashes": [],
            "recovery": [],
            "totp": False,
            "email_index": "",
            "phone_index": None,
            "deleted_at": ctx.clock(),
        }

    await ctx.accounts.write(account.id, shredded, decrypt=False)
    keys = [f"email:{account.email_index}"]
    if account.phone_index:
        keys.append(f"phone:{account.phone_index}")
    if personal is not None:
        keys += [ctx.accounts.link_key(link.tenant, link.external_id) for link in personal.links]
    for key in keys:
        await ctx.accounts.unbind(key, account.id)
    await ctx.sessions.end_all(account.id, "deleted")
    await ctx.events.send(event)
