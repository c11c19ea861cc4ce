"""Sessions and rotating refresh tokens, with reuse detection that ends the whole family.

A session is one sign-in (a refresh-token family): `sessions/<sid>`. Its refresh tokens are
`rt1.<sid>.<n>.<issued>.<mac>`, the MAC a keyed PRF (the blind-index key, its own domain) of the
rest, so nothing secret is stored per token. Using token `n` claims `refresh_uses/<sid>:<n>`
(an atomic insert: exactly one use wins) and answers token `n+1`. A second use of any token
loses that claim: the token was stolen or replayed, and the session ends (`session_ends/<sid>`,
also an insert, which sign-out uses too), so neither the thief's nor the owner's token works.

Browsers also hold `surge_session=<sid>.<mac>` (HttpOnly, SameSite=Lax, path /accounts/), with
which the platform's pages get short-lived access tokens without a refresh token in JavaScript.
Idle lifetime: ACCOUNTS_REFRESH_TOKEN_TTL_SECONDS since the token was issued; absolute:
ACCOUNTS_SESSION_TTL_SECONDS since sign-in.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, IndexModel

from services.accounts.crypto.blindindex import BlindIndex
from shared.store import Store
from shared.storeops import claim

PREFIX = "rt1"
COOKIE = "surge_session"
LAST_USE_EVERY_SECONDS = 60.0


class RefreshError(Exception):
    """reason: invalid, expired, reused, ended, wrong_client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Session:
    id: str
    account: str
    client_id: str | None
    scope: str
    amr: list[str]
    auth_time: float
    created_at: float
    expires_at: float
    last_used_at: float
    ip: str = ""
    user_agent: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Session:
        return cls(
            id=doc["_id"],
            account=doc["account"],
            client_id=doc.get("client_id"),
            scope=doc.get("scope", ""),
            amr=list(doc.get("amr") or []),
            auth_time=float(doc["auth_time"]),
            created_at=float(doc["created_at"]),
            expires_at=float(doc["expires_at"]),
            last_used_at=float(doc.get("last_used_at", doc["created_at"])),
            ip=doc.get("ip", ""),
            user_agent=doc.get("user_agent", ""),
        )


class Sessions:
    def __init__(
        self,
        store: Store,
        prf: BlindIndex,
        *,
        refresh_ttl: float,
        session_ttl: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        db = store.db
        self.coll = db["sessions"]
        self.ends = db["session_ends"]
        self.uses = db["refresh_uses"]
        self._prf = prf
        self.refresh_ttl = refresh_ttl
        self.session_ttl = session_ttl
        self.clock = clock

    def indexes(self) -> dict[str, list[IndexModel]]:
        keep = self.session_ttl + 86_400
        return {
            "sessions": [
                IndexModel([("account", ASCENDING)]),
                IndexModel([("expires_date", ASCENDING)], expireAfterSeconds=86_400),
            ],
            "session_ends": [IndexModel([("at_date", ASCENDING)], expireAfterSeconds=keep)],
            "refresh_uses": [IndexModel([("at_date", ASCENDING)], expireAfterSeconds=keep)],
        }

    def _mac(self, domain: str, text: str) -> str:
        return self._prf.of(domain, text)[:40]

    def refresh_token(self, sid: str, number: int, issued: float) -> str:
        body = f"{sid}.{number}.{int(issued)}"
        return f"{PREFIX}.{body}.{self._mac('refresh', body)}"

    def cookie(self, sid: str) -> str:
        return f"{sid}.{self._mac('session', sid)}"

    async def start(
        self,
        account: str,
        *,
        client_id: str | None = None,
        scope: str = "",
        amr: list[str] | None = None,
        ip: str = "",
        user_agent: str = "",
    ) -> tuple[Session, str]:
        """A new session and its first refresh token."""
        now = self.clock()
        doc = {
            "_id": secrets.token_urlsafe(18),
            "account": account,
            "client_id": client_id,
            "scope": scope,
            "amr": amr or ["pwd"],
            "auth_time": now,
            "created_at": now,
            "last_used_at": now,
            "expires_at": now + self.session_ttl,
            "expires_date": datetime.fromtimestamp(now + self.session_ttl, UTC),
            "ip": ip[:64],
            "user_agent": user_agent[:256],
        }
        await self.coll.insert_one(doc)
        return Session.of(doc), self.refresh_token(str(doc["_id"]), 0, now)

    async def refresh(
        self, token: str, *, client_id: str | None, ip: str = "", user_agent: str = ""
    ) -> tuple[Session, str]:
        """Rotate: the session and the next refresh token; RefreshError otherwise.

        Three round trips: the session, the claim of this token's use, and the end marker
        (read after the claim, so a sign-out or reuse racing with this refresh wins). The
        session's last use is written at most once a minute."""
        sid, number, issued = self.parse(token)
        now = self.clock()
        if now - issued > self.refresh_ttl:
            raise RefreshError("expired")
        doc = await self.coll.find_one({"_id": sid})
        if doc is None:
            raise RefreshError("ended")
        session = Session.of(doc)
        if session.client_id != client_id:
            raise RefreshError("wrong_client")
        if now >= session.expires_at:
            raise RefreshError("expired")
        at = {"at": now, "at_date": datetime.fromtimestamp(now, UTC)}
        if not await claim(self.uses, f"{sid}:{number}", at):
            await self.end(sid, "reused")
            raise RefreshError("reused")
        if await self.ended(sid):
            raise RefreshError("ended")
        if now - session.last_used_at >= LAST_USE_EVERY_SECONDS or ip != session.ip:
            await self.coll.update_one(
                {"_id": sid},
                {"$set": {"last_used_at": now, "ip": ip[:64], "user_agent": user_agent[:256]}},
            )
            session.last_used_at = now
        return session, self.refresh_token(sid, number + 1, now)

    def parse(self, token: str) -> tuple[str, int, float]:
        parts = token.split(".")
        if len(parts) != 5 or parts[0] != PREFIX:
            raise RefreshError("invalid")
        _, sid, number, issued, mac = parts
        if not hmac.compare_digest(mac, self._mac("refresh", f"{sid}.{number}.{issued}")):
            raise RefreshError("invalid")
        return sid, int(number), float(issued)

    async def get(self, sid: str) -> Session | None:
        """A live session (not ended, not expired)."""
        doc = await self.coll.find_one({"_id": sid})
        if doc is None or await self.ended(sid):
            return None
        session = Session.of(doc)
        return session if self.clock() < session.expires_at else None

    async def by_cookie(self, cookie: str | None) -> Session | None:
        sid, _, mac = (cookie or "").partition(".")
        if not sid or not hmac.compare_digest(mac, self._mac("session", sid)):
            return None
        return await self.get(sid)

    async def ended(self, sid: str) -> bool:
        return await self.ends.find_one({"_id": sid}) is not None

    async def end(self, sid: str, reason: str) -> bool:
        now = self.clock()
        doc = {"reason": reason, "at": now, "at_date": datetime.fromtimestamp(now, UTC)}
        return await claim(self.ends, sid, doc)

    async def of_account(self, account: str) -> list[Session]:
        found = []
        async for doc in self.coll.find({"account": account}):
            session = Session.of(doc)
            if self.clock() < session.expires_at and not await self.ended(session.id):
                found.append(session)
        return sorted(found, key=lambda s: s.last_used_at, reverse=True)

    async def end_all(self, account: str, reason: str) -> int:
        return sum([await self.end(s.id, reason) for s in await self.of_account(account)])
