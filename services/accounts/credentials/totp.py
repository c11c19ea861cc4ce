"""The optional second factor: TOTP (RFC 6238, pyotp) and single-use recovery codes.

Enrolment is two steps: `begin` makes a secret (kept in the sealed personal data as pending)
and its otpauth:// URI for an authenticator app; `confirm` with a valid code enables it and
answers ten recovery codes, shown once. Codes are stored as keyed hashes; a used code is claimed
(`otp_uses`), as is each accepted TOTP time step, so neither can be replayed.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pyotp

from services.accounts.crypto.blindindex import BlindIndex

RECOVERY_CODES = 10
ISSUER_NAME = "Surge"


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, label: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=label, issuer_name=ISSUER_NAME)


def matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step `code` is valid for (this one or a neighbour: clock skew), or None."""
    code = code.strip().replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    step = int(now // totp.interval)
    for candidate in (step, step - 1, step + 1):
        if secrets.compare_digest(totp.at(candidate * totp.interval), code):
            return candidate
    return None


def recovery_codes() -> list[str]:
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return [
        "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(2))
        for _ in range(RECOVERY_CODES)
    ]


def recovery_hash(prf: BlindIndex, account: str, code: str) -> str:
    return prf.of("recovery", f"{account}:{code.strip().lower()}")


Clock = Callable[[], float]
