"""The WAF's rules as the admin API lists them: id, class, level, severity, where each looks,
its mode (block, count, disabled) and how often it matched."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from services.gateway.waf import builtin
from services.gateway.waf.signatures import CHECKS, RULES, SIGNATURES

_PLACES: dict[str, list[str]] = {
    **{s.rule.id: sorted(place.value for place in s.places) for s in SIGNATURES},
    **{c.rule.id: ["request"] for c in CHECKS},
}
# The request parts each place belongs to, as the admin API lists a rule's targets.
_PARTS: dict[str, tuple[str, ...]] = {
    "path": ("path",),
    "uri": ("path", "query"),
    "arg": ("query", "body"),
    "arg_name": ("query", "body"),
    "cookie": ("cookies",),
    "cookie_name": ("cookies",),
    "user_header": ("headers",),
    "header": ("headers",),
    "filename": ("body",),
    "body": ("body",),
    "xml": ("body",),
    "request": ("request",),
}


def rule_summaries(mode: Callable[[str], str], hits: Mapping[str, int]) -> list[dict[str, Any]]:
    """Detection rules in catalogue order, then the built-in ones (no class or level)."""
    summaries: list[dict[str, Any]] = [
        {
            "id": rule.id,
            "description": rule.description,
            "category": rule.category.value,
            "paranoia_level": rule.paranoia_level,
            "severity": rule.severity.name.lower(),
            "targets": sorted({part for place in _PLACES[rule.id] for part in _PARTS[place]}),
            "places": _PLACES[rule.id],
            "mode": mode(rule.id),
            "hits": hits.get(rule.id, 0),
        }
        for rule in RULES
    ]
    summaries += [
        {
            "id": rule_id,
            "description": text,
            "category": None,
            "paranoia_level": None,
            "severity": None,
            "targets": [],
            "places": [],
            "mode": mode(rule_id),
            "hits": hits.get(rule_id, 0),
        }
        for rule_id, text in builtin.DESCRIPTIONS.items()
    ]
    return summaries
