"""Signed identities for tests that call a service directly, as the gateway or a peer service
would: the one way a test says who is calling (shared/http/identity.py).

    await client.post(url, headers=as_user("waitingroom", "ann"))
    await client.post(url, headers=as_service("notifier"))

Every test process has IDENTITY_KEYS set to `IDENTITY_KEYS` (tests/conftest.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from shared.http.identity import IDENTITY_HEADER
from shared.security.identity import Caller, CallerKind, IdentityKeys, IdentitySigner

IDENTITY_KEYS = "tests1:identity-key-for-tests-0123456789abcdef-0123"
KEYS = IdentityKeys.parse(IDENTITY_KEYS)
# Signed by another key under the same key id: what a forger without the key can make.
FORGED = IdentityKeys.parse("tests1:not-the-platform-key-0123456789abcdef-0123")


def signed(
    audience: str,
    kind: CallerKind = "anonymous",
    subject: str | None = None,
    *,
    scopes: Iterable[str] = (),
    roles: Iterable[str] = (),
    key_id: str | None = None,
    plan_id: str | None = None,
    claims: dict[str, Any] | None = None,
    keys: IdentityKeys = KEYS,
    issuer: str = "gateway",
    now: float | None = None,
    ttl: float = 60.0,
) -> dict[str, str]:
    caller = Caller(
        kind=kind,
        subject=subject,
        scopes=frozenset(scopes),
        roles=frozenset(roles),
        key_id=key_id,
        plan_id=plan_id,
        claims=claims or {},
    )
    at = time.time() if now is None else now
    signer = IdentitySigner(keys, issuer, ttl=ttl, clock=lambda: at)
    return {IDENTITY_HEADER: signer.sign(caller, audience)}


def as_user(audience: str, sub: str, *, roles: Iterable[str] = (), **claims: Any) -> dict[str, str]:
    """A signed-in user (a verified JWT at the gateway) calling `audience`."""
    return signed(audience, "jwt", sub, roles=roles, claims=claims)


def as_service(audience: str, service: str = "tests") -> dict[str, str]:
    """A platform service calling `audience`."""
    return signed(audience, "service", service, issuer=service)


def anonymous(audience: str) -> dict[str, str]:
    """What the gateway sends for a caller without credentials."""
    return signed(audience)


def forgeries(audience: str, keys: IdentityKeys = KEYS) -> dict[str, dict[str, str]]:
    """What reaches a service that did not come from the gateway or a platform service: each
    must be answered 401 (reason -> headers)."""
    kid = keys.signing_kid
    forger = IdentityKeys.parse(f"{kid}:not-the-platform-key-0123456789abcdef-0123")
    header, payload, _ = signed(audience, "jwt", "admin", keys=keys)[IDENTITY_HEADER].split(".")
    return {
        "missing": {"X-Surge-User-Id": "admin", "X-Surge-Identity-Kind": "jwt"},
        "forged": signed(audience, "jwt", "admin", roles=["admin"], keys=forger),
        "expired": signed(audience, "jwt", "admin", keys=keys, now=time.time() - 3600),
        "other_audience": signed("someone-else", "jwt", "admin", keys=keys),
        "unsigned": {IDENTITY_HEADER: f"{header}.{payload}."},
        "malformed": {IDENTITY_HEADER: "admin"},
    }
