"""What the WAF reads from the gateway settings (GATEWAY_WAF_*, GATEWAY_SECURITY_HEADERS).

A read-only protocol, so the WAF takes `GatewaySettings` (or any object with these fields).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class WafSettings(Protocol):
    @property
    def waf_allow_cidrs(self) -> str: ...
    @property
    def waf_deny_cidrs(self) -> str: ...
    @property
    def waf_rate_limit(self) -> int: ...
    @property
    def waf_rate_window_seconds(self) -> float: ...
    @property
    def waf_rate_block_seconds(self) -> float: ...
    @property
    def waf_rate_max_tracked_ips(self) -> int: ...
    @property
    def waf_report_only_rules(self) -> str: ...
    @property
    def waf_disabled_rules(self) -> str: ...
    @property
    def waf_max_url_bytes(self) -> int: ...
    @property
    def waf_max_header_bytes(self) -> int: ...
    @property
    def waf_max_headers(self) -> int: ...
    @property
    def waf_max_body_bytes(self) -> int: ...
    @property
    def waf_body_inspect_bytes(self) -> int: ...
    @property
    def waf_body_oversize(self) -> str: ...
    @property
    def security_headers(self) -> bool: ...


def parse_ids(text: str, known: Iterable[str], setting: str) -> frozenset[str]:
    """A comma-separated list of rule ids; an unknown id fails startup instead of being ignored."""
    ids = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = ids - set(known)
    if unknown:
        raise ValueError(f"{setting}: unknown rule ids {sorted(unknown)}")
    return ids
