"""Who is calling, as the gateway authenticated it: the platform's `Caller`
(shared/security/identity.py), named `Identity` in the gateway's modules.

Upstreams learn it from the assertion the gateway signs for each of them where it builds the
upstream request's headers (dataplane/pipeline.py); a client's own `X-Surge-*` headers never
cross (dataplane/headers.py).
"""

from __future__ import annotations

from shared.security.identity import ANONYMOUS, Caller, CallerKind

Identity = Caller
IdentityKind = CallerKind

__all__ = ["ANONYMOUS", "Identity", "IdentityKind"]
