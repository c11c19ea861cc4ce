"""Master-key rotation without downtime: re-wrap every data key under the current master key,
in the background, while reads and writes go on.

Reads never wait for it: each record names the master key that wrapped its data key, and the key
manager keeps the earlier keys for unwrapping. The re-wrapper walks the records whose `kek` is not
the current one, in batches, and writes each through the account's next revision (so a profile
edit racing with it is never mixed with another data key). It also re-wraps the blind-index key
and the signing keys. `remaining()` tells an operator when an old key wraps nothing any more and
may be retired.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from services.accounts.crypto.blindindex import rewrap_blind_index
from services.accounts.crypto.envelope import Sealed
from services.accounts.records.store import Account, ConflictError

if TYPE_CHECKING:
    from services.accounts.keys import Context

log = logging.getLogger("services.accounts.rotation")
IDLE_SECONDS = 600.0


class Rewrapper:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.rewrapped = 0
        self._wake = asyncio.Event()

    def trigger(self) -> None:
        self._wake.set()

    async def _rewrap(self, sealed: Sealed) -> Sealed:
        envelope = self.ctx.envelope
        if envelope.keys.blocking:
            return await asyncio.to_thread(envelope.rewrap, sealed)
        return envelope.rewrap(sealed)

    async def run_once(self) -> int:
        """Re-wrap everything wrapped by an older key; returns how many records changed."""
        ctx, current = self.ctx, self.ctx.envelope.keys.current
        keys = ctx.accounts.store.db["keys"]
        changed = int(await rewrap_blind_index(ctx.envelope.keys, keys))
        async for doc in keys.find({"sealed.kek": {"$ne": current}, "sealed": {"$exists": True}}):
            fresh = await self._rewrap(Sealed.of(doc["sealed"]))
            await keys.update_one({"_id": doc["_id"]}, {"$set": {"sealed": fresh.document()}})
            changed += 1
        query = {"sealed.kek": {"$ne": current}, "status": {"$ne": "deleted"}}
        while True:
            batch = await ctx.accounts.coll.find(query, {"_id": 1, "sealed": 1}).to_list(
                ctx.settings.rewrap_batch
            )
            batch = [doc for doc in batch if doc.get("sealed")]
            if not batch:
                break
            for doc in batch:
                changed += await self._account(doc["_id"])
                if ctx.settings.rewrap_pause_seconds:
                    await asyncio.sleep(ctx.settings.rewrap_pause_seconds)
        self.rewrapped += changed
        return changed

    async def _account(self, account_id: str) -> int:
        async def rewrapped(account: Account, _personal: Any) -> dict[str, Any]:
            if account.sealed is None:
                return {}
            return {"sealed": (await self._rewrap(account.sealed)).document()}

        try:
            await self.ctx.accounts.write(account_id, rewrapped, decrypt=False)
        except (ConflictError, LookupError):
            return 0  # busy or gone: the next round sees it again if still needed
        return 1

    async def remaining(self) -> dict[str, int]:
        """Records per master key (accounts with sealed data, signing keys, blind-index key)."""
        counts: dict[str, int] = {}
        for name in ("accounts", "keys"):
            cursor = self.ctx.accounts.store.db[name].find({}, {"sealed.kek": 1, "kek": 1})
            async for doc in cursor:
                kek = (doc.get("sealed") or {}).get("kek") or doc.get("kek")
                if kek:
                    counts[kek] = counts.get(kek, 0) + 1
        return counts

    async def run_forever(self) -> None:
        while True:
            try:
                async with asyncio.timeout(IDLE_SECONDS):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                count = await self.run_once()
                if count:
                    log.info(
                        "re-wrapped %d records under master key %s",
                        count,
                        self.ctx.envelope.keys.current,
                    )
            except Exception:  # next round
                log.warning("master-key re-wrap failed", exc_info=True)
