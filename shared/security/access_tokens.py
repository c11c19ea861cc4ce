"""The waiting room's access tokens where other services meet them: declared once.

A visitor admitted to a zone holds an ES256 JWT issued by the waiting room (`iss` below,
`aud` = the zone). It travels as `Authorization: Bearer`, in `X-Access-Token`, or in the cookie
`surge_access_<zone>` that the waiting room page sets (static/page.js writes the same name).
"""

from __future__ import annotations

ISSUER = "surge-waitingroom"
ACCESS_HEADER = "X-Access-Token"
COOKIE_PREFIX = "surge_access_"


def cookie_name(zone: str) -> str:
    return COOKIE_PREFIX + zone
