"""Secret handling helpers: constant-time comparison and generation."""

from __future__ import annotations

import hmac
import secrets as _stdlib_secrets

from pydantic import SecretBytes, SecretStr

SecretLike = str | bytes | SecretStr | SecretBytes


def secret_bytes(value: SecretLike) -> bytes:
    """The raw bytes of a secret given as str, bytes or a pydantic Secret*."""
    if isinstance(value, SecretStr | SecretBytes):
        value = value.get_secret_value()
    return value.encode("utf-8") if isinstance(value, str) else value


def constant_time_equals(a: SecretLike | None, b: SecretLike | None) -> bool:
    """Compare secrets without leaking, through timing, how many leading bytes matched.

    A missing value never matches, not even another missing value: an unset admin token must
    not let an empty header in.
    """
    if a is None or b is None:
        return False
    left, right = secret_bytes(a), secret_bytes(b)
    if not left or not right:
        return False
    return hmac.compare_digest(left, right)


def generate_secret(nbytes: int = 32) -> str:
    """A URL-safe random secret (32 bytes -> 43 characters), enough for HS256."""
    return _stdlib_secrets.token_urlsafe(nbytes)
