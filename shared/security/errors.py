"""The one error token verification raises, with a short machine-readable reason."""

from __future__ import annotations


class TokenError(Exception):
    """A token was refused. `reason` is a short code safe to log and to return to clients:
    missing, malformed, expired, not_yet_valid, bad_signature, bad_issuer, bad_audience,
    bad_algorithm, unknown_key, bad_key, weak_key, missing_claim, jwks_unavailable, invalid.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
