"""A route's detection settings (the route table's `waf:` block), as the engine reads them."""

from __future__ import annotations

from dataclasses import dataclass

# CRS's default allow-list (tx.allowed_request_content_type) plus what an API gateway carries:
# plain text and opaque uploads. A route can narrow or widen it.
DEFAULT_CONTENT_TYPES = frozenset(
    {
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "multipart/related",
        "text/xml",
        "application/xml",
        "application/soap+xml",
        "application/json",
        "text/plain",
        "application/octet-stream",
    }
)


@dataclass(frozen=True, slots=True)
class Policy:
    paranoia_level: int = 1  # rules above this level are not evaluated (1-4)
    anomaly_threshold: int = 5  # block at this inbound anomaly score (one critical match)
    excluded_rules: frozenset[str] = frozenset()  # rules that do not apply to the route
    # Argument names (query, form, JSON key, multipart or XML field; lower case) whose values
    # are not inspected: secrets such as a sign-in form's password, opaque to the application.
    excluded_fields: frozenset[str] = frozenset()
    # Request media types allowed (any `+json`/`+xml` type too); others match protocol-008.
    content_types: frozenset[str] = DEFAULT_CONTENT_TYPES


DEFAULT_POLICY = Policy()
