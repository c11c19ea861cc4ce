"""Where to send a browser back to after signing in: a path on this site, never another origin."""

from __future__ import annotations

from urllib.parse import urlsplit


def safe_return(value: str | None, default: str = "/accounts/account") -> str:
    """A same-site path (`/...`): no scheme, host, `//host`, backslash or control character."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value
