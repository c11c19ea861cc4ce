"""Who is calling: the verified identity the gateway forwards upstream in `X-Surge-*` headers.

Upstreams trust these headers only because the gateway strips every incoming header named in
`IDENTITY_HEADERS` *and* every header starting with `x-surge-` (`is_identity_header`), so a
client can never set one itself, not even one added in a later version.

Header values: scopes and roles are space-separated (OAuth `scope` style); control characters
are removed so a claim can never inject a header line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

IdentityKind = Literal["anonymous", "jwt", "api_key"]

IDENTITY_PREFIX = "x-surge-"
KIND_HEADER = "X-Surge-Identity-Kind"
USER_HEADER = "X-Surge-User-Id"
SCOPES_HEADER = "X-Surge-Scopes"
ROLES_HEADER = "X-Surge-Roles"
KEY_HEADER = "X-Surge-Api-Key-Id"
PLAN_HEADER = "X-Surge-Plan"

IDENTITY_HEADERS: frozenset[str] = frozenset(
    name.lower()
    for name in (KIND_HEADER, USER_HEADER, SCOPES_HEADER, ROLES_HEADER, KEY_HEADER, PLAN_HEADER)
)

_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
_MAX_VALUE = 1024


def is_identity_header(name: str) -> bool:
    """True for a header the client must never be able to send upstream."""
    lowered = name.lower()
    return lowered in IDENTITY_HEADERS or lowered.startswith(IDENTITY_PREFIX)


def _clean(value: str) -> str:
    return _UNSAFE.sub("", value)[:_MAX_VALUE]


@dataclass(frozen=True, slots=True)
class Identity:
    kind: IdentityKind = "anonymous"
    subject: str | None = None
    scopes: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    key_id: str | None = None  # set whenever a valid API key came with the request
    plan_id: str | None = None  # the key's usage plan
    claims: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    # headers() computed once: verified identities are cached and reused across requests
    _headers: dict[str, str] = field(
        default_factory=dict, init=False, repr=False, hash=False, compare=False
    )
    _raw: list[tuple[bytes, bytes]] = field(
        default_factory=list, init=False, repr=False, hash=False, compare=False
    )

    @property
    def anonymous(self) -> bool:
        return self.kind == "anonymous"

    def headers(self) -> dict[str, str]:
        """The identity headers to add to the upstream request (after stripping the client's)."""
        if not self._headers:
            self._headers.update(self._build_headers())
        return dict(self._headers)

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """`headers()` as header lines (bytes), built once per identity."""
        if not self._raw:
            self._raw.extend(
                (name.encode(), value.encode("utf-8", "surrogateescape"))
                for name, value in self.headers().items()
            )
        return self._raw

    def _build_headers(self) -> dict[str, str]:
        out: dict[str, str] = {KIND_HEADER: self.kind}
        if self.subject:
            out[USER_HEADER] = _clean(self.subject)
        if self.scopes:
            out[SCOPES_HEADER] = _clean(" ".join(sorted(self.scopes)))
        if self.roles:
            out[ROLES_HEADER] = _clean(" ".join(sorted(self.roles)))
        if self.key_id:
            out[KEY_HEADER] = _clean(self.key_id)
        if self.plan_id:
            out[PLAN_HEADER] = _clean(self.plan_id)
        return out


ANONYMOUS = Identity()
