"""Gateway configuration (environment variables prefixed `GATEWAY_`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

DEFAULT_ROUTES = Path(__file__).with_name("routes.yaml")


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", frozen=True)

    port: int = Field(default=8080, ge=0, le=65535)
    admin_port: int = Field(default=8090, ge=0, le=65535)
    admin_host: str = "127.0.0.1"
    # Bodies are streamed and limited per route by the WAF, not buffered by aiohttp; this is the
    # ceiling over every route (the avatar upload route allows 25 MiB).
    max_request_bytes: int = Field(default=32 * 1024 * 1024, ge=1)
    routes_file: Path = DEFAULT_ROUTES
    # YAML text that replaces the file's content (handy in containers and tests).
    routes_yaml: str | None = None
    # Comma-separated CIDRs of proxies whose X-Forwarded-For/-Proto we believe.
    trusted_proxies: str = ""
    # Where routes with `protected_zone` get the keys that verify access tokens offline.
    waitingroom_jwks_url: str = "http://127.0.0.1:8083/waitingroom/.well-known/jwks.json"

    # --- keys, plans, limits, quotas, metering ---
    limits_max_tracked: int = Field(default=100_000, ge=1)
    limits_queue_max: int = Field(default=1000, ge=0)
    usage_flush_seconds: float = Field(default=10.0, gt=0)
    api_key_cache_seconds: float = Field(default=5.0, ge=0)
    api_key_cache_size: int = Field(default=10_000, ge=1)
    plan_cache_seconds: float = Field(default=5.0, ge=0)
    quota_max_keys: int = Field(default=100_000, ge=1)

    # --- waf ---
    waf_allow_cidrs: str = ""
    waf_deny_cidrs: str = ""
    waf_rate_limit: int = Field(default=2000, ge=1)
    waf_rate_window_seconds: float = Field(default=300.0, gt=0)
    waf_rate_block_seconds: float = Field(default=300.0, gt=0)
    waf_rate_max_tracked_ips: int = Field(default=100_000, ge=1)
    waf_report_only_rules: str = ""
    waf_disabled_rules: str = ""
    waf_max_url_bytes: int = Field(default=8192, ge=256)
    waf_max_header_bytes: int = Field(default=16384, ge=1024)
    waf_max_headers: int = Field(default=100, ge=1)
    waf_max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=0)
    waf_body_inspect_bytes: int = Field(default=16384, ge=0)
    waf_body_oversize: Literal["continue", "match", "no_match"] = "continue"
    security_headers: bool = True
