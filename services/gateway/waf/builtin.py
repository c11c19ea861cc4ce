"""Ids of the WAF's built-in (non-signature) rules and the problem a rejection answers with."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.http.problems import PROBLEM_TYPE_BASE, Problem

IP_DENY = "ip-deny"
IP_ALLOW = "ip-allow"
RATE_BASED = "rate-based"
SIZE_URL = "size-url"
SIZE_HEADERS = "size-headers"
SIZE_BODY = "size-body"
METHOD = "method"
BODY_OVERSIZE = "body-oversize"
BODY_MEDIA_TYPE = "body-media-type"
BODY_JSON = "body-json"
BODY_SCHEMA = "body-schema"

DESCRIPTIONS: dict[str, str] = {
    IP_DENY: "Client address on the deny list (GATEWAY_WAF_DENY_CIDRS)",
    IP_ALLOW: "Client address not on the allow list (GATEWAY_WAF_ALLOW_CIDRS)",
    RATE_BASED: "Client address over the rate-based limit (blocked for a period)",
    SIZE_URL: "URL longer than GATEWAY_WAF_MAX_URL_BYTES (414)",
    SIZE_HEADERS: "Header block over GATEWAY_WAF_MAX_HEADER_BYTES / _MAX_HEADERS (431)",
    SIZE_BODY: "Body over GATEWAY_WAF_MAX_BODY_BYTES or the route's max_body_bytes (413)",
    METHOD: "Method not in the route's allow-list (405)",
    BODY_OVERSIZE: "Body too large to inspect, with GATEWAY_WAF_BODY_OVERSIZE=match",
    BODY_MEDIA_TYPE: "Non-JSON body on a route with a body_schema (415)",
    BODY_JSON: "Malformed JSON body on a route with a body_schema (400)",
    BODY_SCHEMA: "Body fails the route's body_schema (400)",
}

_TITLES = {403: "Request blocked", 400: "Invalid request body"}


def problem(
    status: int,
    rule_id: str,
    detail: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Problem:
    detail = detail or f"request blocked by WAF rule {rule_id}"
    if status == 403 and rule_id not in detail:
        detail = f"{detail} (WAF rule {rule_id})"
    return Problem(
        status,
        detail,
        title=_TITLES.get(status),
        type_=PROBLEM_TYPE_BASE + ("waf-blocked" if status == 403 else f"waf-{rule_id}"),
        headers=headers,
        extra={"rule_id": rule_id, **(extra or {})},
    )
