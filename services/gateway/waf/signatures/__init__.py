"""The rule catalogue: every signature and check, by attack class, as CRS organises them.

Ids are `<category>-<NNN>`; the catalogue (with paranoia levels and severities) is documented
in docs/gateway.md and served by `GET /admin/waf/rules`.
"""

from __future__ import annotations

from services.gateway.waf.signatures import (
    fixation,
    generic,
    java,
    lfi,
    php,
    protocol,
    protocol_checks,
    rce,
    rfi,
    scanner,
    sqli,
    xss,
)
from services.gateway.waf.signatures.rule import Check, Rule, Signature

SIGNATURES: tuple[Signature, ...] = (
    *sqli.SIGNATURES,
    *xss.SIGNATURES,
    *lfi.SIGNATURES,
    *rfi.SIGNATURES,
    *rce.SIGNATURES,
    *php.SIGNATURES,
    *java.SIGNATURES,
    *generic.SIGNATURES,
    *fixation.SIGNATURES,
    *scanner.SIGNATURES,
    *protocol.SIGNATURES,
)
CHECKS: tuple[Check, ...] = protocol_checks.CHECKS
RULES: tuple[Rule, ...] = (*(s.rule for s in SIGNATURES), *(c.rule for c in CHECKS))
RULES_BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}

if len(RULES_BY_ID) != len(RULES):  # pragma: no cover - a catalogue edit gone wrong
    raise ValueError("WAF rule ids must be unique")
