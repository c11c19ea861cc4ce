"""The identity assertion: who is calling, signed by the gateway (or a peer service) for one
service, verified by that service.

An assertion is a compact JWS (HS256, header `kid` and `typ: surge-identity`) whose payload
names the issuer (`iss`: the gateway or the calling service), the one service it is for
(`aud`), `iat`/`exp` (a short life, IDENTITY_TTL_SECONDS) and the caller: `kind`, `sub`,
`scope`, `roles`, `key_id`, `plan_id` and the other claims of the user's token (`claims`).

Keys come from the platform setting IDENTITY_KEYS, `kid:secret` pairs separated by commas: the
first signs, every one verifies, so a key is rotated by adding the new one second everywhere,
then moving it first, then dropping the old one (docs/architecture.md).

Both sides cache, so neither signs nor verifies per request: the signer keeps each caller's
signed value per audience until half its life has passed; the verifier keeps each value it
accepted, by its exact text, until it expires. A value it refused is never cached.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import jwt
from pydantic import SecretStr

from shared.security.errors import TokenError

CallerKind = Literal["anonymous", "jwt", "api_key", "service"]
KINDS: frozenset[str] = frozenset(get_args(CallerKind))
TYPE = "surge-identity"
# Clock skew between hosts tolerated on `exp` (the life itself is IDENTITY_TTL_SECONDS).
LEEWAY_SECONDS = 5.0
# A user token's other claims travel in the assertion up to this size (JSON bytes); beyond it
# they are left out (a warning is logged) so the header stays under the services' 8 KiB limit.
MAX_CLAIMS_BYTES = 4096
CACHE_SIZE = 10_000
MIN_SECRET_BYTES = 32  # HS256 needs a key as long as its hash
# What a user token says that the assertion carries in its own fields, not in `claims`.
_OWN_FIELDS = frozenset({"sub", "scope", "scp", "roles"})
_JWT = jwt.PyJWT(options={"enforce_minimum_key_length": True})
log = logging.getLogger("shared.security.identity")


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: `kind` anonymous / jwt (a signed-in user) / api_key / service."""

    kind: CallerKind = "anonymous"
    subject: str | None = None  # the user id (JWT sub) or the calling service's name
    scopes: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    key_id: str | None = None  # the API key that came with the request, if any
    plan_id: str | None = None  # that key's usage plan
    # Other claims of the user's token ("channels", "tier", ...); not part of equality.
    claims: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def anonymous(self) -> bool:
        return self.kind == "anonymous"


ANONYMOUS = Caller()


@dataclass(frozen=True)
class IdentityKeys:
    signing_kid: str
    secrets: Mapping[str, bytes]

    @classmethod
    def parse(cls, value: SecretStr | str | None) -> IdentityKeys:
        """`kid:secret[,kid:secret...]`; ValueError (never showing a secret) when malformed."""
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not text or not text.strip():
            raise ValueError(
                "IDENTITY_KEYS is not set: every service needs the keys that sign and verify "
                "who is calling (`make run` generates them; see docs/architecture.md)"
            )
        pairs: dict[str, bytes] = {}
        for item in text.split(","):
            kid, sep, secret = item.strip().partition(":")
            if not sep or not kid or not kid.isascii() or not kid.replace("-", "").isalnum():
                raise ValueError(
                    "IDENTITY_KEYS: each item is `<key id>:<secret>`, key id [A-Za-z0-9-]"
                )
            if len(secret.encode()) < MIN_SECRET_BYTES:
                raise ValueError(f"IDENTITY_KEYS: the secret of {kid!r} is under 32 bytes")
            if kid in pairs:
                raise ValueError(f"IDENTITY_KEYS: key id {kid!r} appears twice")
            pairs[kid] = secret.encode()
        return cls(next(iter(pairs)), pairs)

    @staticmethod
    def generate() -> str:
        """A fresh IDENTITY_KEYS value with one key (what `make run` stores)."""
        return f"{secrets.token_hex(4)}:{secrets.token_urlsafe(32)}"


def payload_of(
    caller: Caller, issuer: str, audience: str, now: float, ttl: float
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "iat": int(now),
        "exp": int(now + ttl),
        "kind": caller.kind,
    }
    if caller.subject is not None:
        body["sub"] = caller.subject
    if caller.scopes:
        body["scope"] = " ".join(sorted(caller.scopes))
    if caller.roles:
        body["roles"] = sorted(caller.roles)
    if caller.key_id is not None:
        body["key_id"] = caller.key_id
    if caller.plan_id is not None:
        body["plan_id"] = caller.plan_id
    extra = {k: v for k, v in caller.claims.items() if k not in _OWN_FIELDS}
    if extra:
        if len(json.dumps(extra, separators=(",", ":"), default=str)) <= MAX_CLAIMS_BYTES:
            body["claims"] = extra
        else:
            log.warning("claims of %s not forwarded: over %d bytes", caller.kind, MAX_CLAIMS_BYTES)
    return body


class IdentitySigner:
    """Signs callers for an audience as `issuer`; one signature per caller and audience per
    half life (the cached value is reused until then)."""

    def __init__(
        self,
        keys: IdentityKeys,
        issuer: str,
        *,
        ttl: float = 60.0,
        clock: Callable[[], float] = time.time,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        self._kid, self._secret = keys.signing_kid, keys.secrets[keys.signing_kid]
        self.issuer, self.ttl, self._clock, self._size = issuer, ttl, clock, cache_size
        self._headers = {"kid": self._kid, "typ": TYPE}
        # (caller, audience) -> (re-sign after, the claims signed, the signed value)
        self._cache: dict[tuple[Caller, str], tuple[float, Mapping[str, Any], str]] = {}

    def sign(self, caller: Caller, audience: str) -> str:
        key = (caller, audience)
        now = self._clock()
        entry = self._cache.get(key)
        if entry is not None and now < entry[0]:
            signed_claims = entry[1]
            # Claims are not part of a Caller's equality: two tokens with the same subject
            # may carry different ones.
            if signed_claims is caller.claims or signed_claims == caller.claims:
                return entry[2]
        value = _JWT.encode(
            payload_of(caller, self.issuer, audience, now, self.ttl),
            self._secret,
            algorithm="HS256",
            headers=self._headers,
        )
        cache = self._cache
        cache.pop(key, None)
        cache[key] = (now + self.ttl / 2, caller.claims, value)
        if len(cache) > self._size:
            del cache[next(iter(cache))]  # the oldest signature
        return value


class IdentityVerifier:
    """Verifies assertions for one audience; each accepted value is remembered until its
    `exp`, so a repeated value costs a dictionary lookup."""

    def __init__(
        self,
        keys: IdentityKeys,
        audience: str,
        *,
        clock: Callable[[], float] = time.time,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        self._secrets, self.audience = keys.secrets, audience
        self._clock, self._size = clock, cache_size
        self._cache: dict[str, tuple[float, Caller]] = {}

    def verify(self, value: str | None) -> Caller:
        """The caller a valid assertion names; TokenError(reason) otherwise: missing,
        malformed, unknown_key, bad_signature, expired, bad_audience, missing_claim."""
        if not value:
            raise TokenError("missing")
        hit = self._cache.get(value)
        if hit is not None:
            if self._clock() < hit[0]:
                return hit[1]
            del self._cache[value]
        return self._verify(value)

    def _verify(self, value: str) -> Caller:
        try:
            header = jwt.get_unverified_header(value)
        except jwt.PyJWTError:
            raise TokenError("malformed") from None
        if header.get("typ") != TYPE or header.get("alg") != "HS256":
            raise TokenError("malformed")
        kid = header.get("kid")
        secret = self._secrets.get(kid) if isinstance(kid, str) else None
        if secret is None:
            raise TokenError("unknown_key")
        try:
            # PyJWT checks the signature and aud; exp is checked here, on the injectable clock.
            body = _JWT.decode(
                value,
                secret,
                algorithms=["HS256"],
                audience=self.audience,
                leeway=LEEWAY_SECONDS,
                options={"require": ["iss", "aud", "iat", "exp"], "verify_exp": False},
            )
        except jwt.PyJWTError as exc:
            raise TokenError(_reason(exc)) from None
        expires = body["exp"]
        if not isinstance(expires, int | float) or isinstance(expires, bool):
            raise TokenError("malformed")
        until = float(expires) + LEEWAY_SECONDS
        if self._clock() >= until:
            raise TokenError("expired")
        caller = caller_from(body)
        self._cache[value] = (until, caller)
        if len(self._cache) > self._size:
            del self._cache[next(iter(self._cache))]
        return caller


def caller_from(body: Mapping[str, Any]) -> Caller:
    kind, subject = body.get("kind"), body.get("sub")
    scope, roles, claims = body.get("scope", ""), body.get("roles", []), body.get("claims", {})
    key_id, plan_id = body.get("key_id"), body.get("plan_id")
    if (
        kind not in KINDS
        or not isinstance(scope, str)
        or not isinstance(roles, list)
        or not all(isinstance(role, str) for role in roles)
        or not isinstance(claims, dict)
        or not all(isinstance(v, str | None) for v in (subject, key_id, plan_id))
        or (kind in ("jwt", "service") and not subject)
    ):
        raise TokenError("malformed")
    return Caller(
        kind=kind,
        subject=subject,
        scopes=frozenset(scope.split()),
        roles=frozenset(roles),
        key_id=key_id,
        plan_id=plan_id,
        claims=claims,
    )


def _reason(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "expired"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "bad_audience"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return "bad_audience" if exc.claim == "aud" else "missing_claim"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "bad_signature"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "not_yet_valid"
    return "malformed"
