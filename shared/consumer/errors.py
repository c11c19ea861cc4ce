"""Errors a handler raises to steer the consumer runtime."""

from __future__ import annotations


class PermanentError(Exception):
    """Retrying cannot help (bad business input, a rejected contract): dead-letter at once.

    Any other exception is treated as transient and retried with backoff.
    """
