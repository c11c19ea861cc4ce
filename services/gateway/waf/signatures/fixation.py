"""Session fixation: a value that sets a cookie for the victim (HTML meta, script)."""

from __future__ import annotations

from services.gateway.waf.signatures.rule import Signature, signature

SIGNATURES: tuple[Signature, ...] = (
    signature(
        "fixation-001",
        "Cookie set from within a value (document.cookie=...; domain=, http-equiv=set-cookie)",
        r"\.cookie\b.{0,200};\W{0,10}(?:expires|domain|path)\W{0,10}="
        r"|\bhttp-equiv\W{1,10}set-cookie\b",
    ),
)
