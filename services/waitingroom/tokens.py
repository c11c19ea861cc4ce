"""Access tokens: ES256 JWTs (aud = zone, sub = visitor, random jti, exp = admission +
session_ttl), and the JWKS the gateway verifies them with offline.

The key pair comes from WAITINGROOM_SIGNING_KEY (PKCS#8 PEM), or is generated once and stored
with an insert that only the first replica wins (`_id` is unique), so replicas sharing MongoDB
agree. Without MongoDB every replica would generate its own: set the variable then.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from services.waitingroom.places import Place
from shared.security import TokenError
from shared.security.access_tokens import ISSUER
from shared.storeops import insert_or_get

KEY_DOC = "signing-key"


def _b64(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes(32, "big")).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    private: ec.EllipticCurvePrivateKey
    kid: str
    jwk: dict[str, str]

    @classmethod
    def from_pem(cls, pem: str) -> SigningKey:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError("WAITINGROOM_SIGNING_KEY must be a P-256 (ES256) private key")
        numbers = key.public_key().public_numbers()
        public = {"crv": "P-256", "kty": "EC", "x": _b64(numbers.x), "y": _b64(numbers.y)}
        # RFC 7638 thumbprint: the kid changes exactly when the key does.
        canonical = json.dumps(public, sort_keys=True, separators=(",", ":")).encode()
        kid = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
        return cls(key, kid, {**public, "kid": kid, "alg": "ES256", "use": "sig"})

    @classmethod
    def generate(cls) -> SigningKey:
        return cls.from_pem(pem_of(ec.generate_private_key(ec.SECP256R1())))


def pem_of(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


async def load_signing_key(configured: str | None, collection: Any) -> SigningKey:
    if configured:
        return SigningKey.from_pem(configured)
    found = await collection.find_one({"_id": KEY_DOC})
    if found is None:  # the first replica's key wins; every other uses it
        candidate = SigningKey.generate()
        found = await insert_or_get(collection, {"_id": KEY_DOC, "pem": pem_of(candidate.private)})
    return SigningKey.from_pem(str(found["pem"]))


class Tokens:
    def __init__(self, key: SigningKey, clock: Callable[[], float], leeway: float = 0.0) -> None:
        self.key, self.clock, self.leeway = key, clock, leeway
        self._public = key.private.public_key()

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.jwk]}

    def issue(self, zone: str, place: Place) -> str:
        claims = {
            "iss": ISSUER,
            "aud": zone,
            "sub": place.user,
            "jti": place.jti,
            "iat": int(place.admitted_at or 0),
            "exp": int(place.expires_at or 0),
            "tier": place.tier,
        }
        if place.exempt:
            claims["exempt"] = True
        return jwt.encode(
            claims, self.key.private, algorithm="ES256", headers={"kid": self.key.kid}
        )

    def decode(self, token: str, zone: str) -> dict[str, Any]:
        """Signature, issuer, audience and expiry; TokenError(reason) otherwise."""
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != "ES256" or header.get("kid") != self.key.kid:
                raise TokenError("bad_signature")
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public,
                algorithms=["ES256"],
                audience=zone,
                issuer=ISSUER,
                leeway=self.leeway,
                # Expiry is checked below against the service's clock (injectable in tests).
                options={
                    "require": ["exp", "sub", "jti", "aud"],
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidAudienceError:
            raise TokenError("other_zone") from None
        except jwt.InvalidSignatureError:
            raise TokenError("bad_signature") from None
        except jwt.PyJWTError:
            raise TokenError("malformed") from None
        exp = claims["exp"]
        if not isinstance(exp, int | float) or exp + self.leeway <= self.clock():
            raise TokenError("expired")
        return claims
