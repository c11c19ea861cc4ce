"""Start the accounts service in the test's event loop: cheap argon2 parameters, a key file in
the test's directory, a hand-moved clock, mail kept in memory, a memory or Kafka bus."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.accounts.app import init_app
from services.accounts.crypto.masterkeys import MasterKeys
from services.accounts.keys import CONTEXT, Context
from services.accounts.mail import Mail
from services.accounts.settings import AccountsSettings
from shared.bus.memory import MemoryBus
from shared.http.app import BusFactory
from shared.settings import PlatformSettings
from tests.clock import ManualClock
from tests.identity_support import signed

ADMIN_TOKEN = "accounts-admin-token-for-tests"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PASSWORD = "quartz-lantern-meadow-42"
FAST_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1}


@dataclass
class Outbox:
    """A MailSender that keeps messages for the test."""

    sent: list[Mail] = field(default_factory=list)

    async def send(self, mail: Mail) -> None:
        self.sent.append(mail)

    def link_to(self, address: str) -> str:
        for mail in reversed(self.sent):
            if mail.to == address and mail.link:
                return mail.link
        raise AssertionError(f"no link mailed to {address}: {self.sent}")

    def token_for(self, address: str) -> str:
        found = re.search(r"token=([^&]+)", self.link_to(address))
        assert found is not None
        return found.group(1)


def settings(
    tmp: Path, platform: PlatformSettings | None = None, **overrides: Any
) -> AccountsSettings:
    values: dict[str, Any] = {
        **FAST_ARGON2,
        "port": 0,
        "keyset_file": tmp / "master-keys.json",
        "mail_dir": tmp / "mail",
        "issuer": "http://127.0.0.1:8080/accounts",
        "password_min_score": 2,
        "rewrap_pause_seconds": 0,
        **overrides,
    }
    base = platform or PlatformSettings()
    if base.admin_token is None:
        from pydantic import SecretStr

        base = base.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)})
    return AccountsSettings(**values).model_copy(update={"platform": base})


@dataclass
class Service:
    app: web.Application
    http: TestClient[web.Request, web.Application]
    mail: Outbox
    clock: Any  # a ManualClock, or time.time for tests across services
    bus: Any

    @property
    def ctx(self) -> Context:
        return self.app[CONTEXT]

    async def call(
        self, method: str, path: str, *, expect: int | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        response = await self.http.request(method, path, **kwargs)
        text = await response.text()
        try:
            import json

            answer = json.loads(text) if text else None
        except ValueError:
            answer = text
        if expect is not None:
            assert response.status == expect, (response.status, answer)
        return response.status, answer

    async def signup(self, email: str, password: str = PASSWORD, **extra: Any) -> None:
        await self.call(
            "POST",
            "/accounts/api/signup",
            json={"email": email, "password": password, **extra},
            expect=202,
        )

    async def verified_account(self, email: str, password: str = PASSWORD, **extra: Any) -> None:
        await self.signup(email, password, **extra)
        token = self.mail.token_for(email)
        await self.call("POST", "/accounts/api/verify", json={"token": token}, expect=200)

    def auth(self, tokens: dict[str, Any] | str) -> dict[str, str]:
        """What the gateway sends for a client presenting this access token: the bearer and
        the signed identity of its user (claims read without checking: the service checks)."""
        token = tokens if isinstance(tokens, str) else tokens["access_token"]
        claims = jwt.decode(token, options={"verify_signature": False})
        return {
            "Authorization": f"Bearer {token}",
            **signed(
                "accounts",
                "jwt",
                claims["sub"],
                scopes=str(claims.get("scope", "")).split(),
                roles=claims.get("roles", []),
                claims={k: v for k, v in claims.items() if k not in ("sub", "scope", "roles")},
                ttl=3600,
            ),
        }

    async def signin(self, email: str, password: str = PASSWORD, **extra: Any) -> dict[str, Any]:
        _, answer = await self.call(
            "POST",
            "/accounts/api/signin",
            json={"email": email, "password": password, **extra},
            expect=200,
        )
        assert isinstance(answer, dict)
        return answer


@asynccontextmanager
async def running_accounts(
    tmp: Path,
    *,
    bus: BusFactory | None = None,
    clock: Callable[[], float] | None = None,
    master_keys: MasterKeys | None = None,
    platform: PlatformSettings | None = None,
    **overrides: Any,
) -> AsyncIterator[Service]:
    clock = clock or ManualClock(1_900_000_000.0)
    outbox = Outbox()
    memory = MemoryBus()
    app = await init_app(
        settings(tmp, platform, **overrides),
        bus=bus or (lambda _p, _s: memory),
        clock=clock,
        mail=outbox,
        master_keys=master_keys,
    )
    # As the gateway calls it: a signed (anonymous) identity on every request.
    async with TestClient(TestServer(app), headers=signed("accounts", ttl=3600)) as http:
        yield Service(app, http, outbox, clock, memory)


def url_of(client: TestClient[Any, Any]) -> str:
    return str(client.make_url("")).rstrip("/")
