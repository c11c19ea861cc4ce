"""Notifier configuration (environment variables prefixed `NOTIFIER_`)."""

from __future__ import annotations

import uuid

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.notifier.webpush.config import WebPushFields
from shared.settings import ServiceSettings


def _replica_id() -> str:
    return uuid.uuid4().hex[:12]


class NotifierSettings(ServiceSettings, WebPushFields):
    """The notifier's own settings; the `vapid_*`/`webpush_*` fields come from WebPushFields."""

    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore", frozen=True)

    port: int = Field(default=8081, ge=0, le=65535)
    ws_host: str = "127.0.0.1"
    ws_port: int = Field(default=8082, ge=0, le=65535)
    # Names this process in presence records and logs; unique per process by default.
    replica_id: str = Field(default_factory=_replica_id, pattern=r"^[A-Za-z0-9._-]{1,64}$")
    # Consumer groups `<prefix>` (notifications) and `<prefix>-jobs`: every replica of one
    # deployment shares them; two deployments on one cluster need different prefixes.
    consumer_group_prefix: str = Field(default="notifier", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    # Bearer token of POST /notifier/publish; ADMIN_TOKEN when unset.
    service_token: SecretStr | None = None

    # --- connections ---
    auth_timeout_seconds: float = Field(default=5.0, gt=0)
    ping_interval_seconds: float = Field(default=20.0, gt=0)
    ping_timeout_seconds: float = Field(default=20.0, gt=0)
    idle_timeout_seconds: float = Field(default=300.0, gt=0)
    close_timeout_seconds: float = Field(default=5.0, gt=0)
    max_message_bytes: int = Field(default=64 * 1024, ge=256)
    max_subscriptions: int = Field(default=100, ge=1)
    max_connections: int = Field(default=50_000, ge=1)
    max_connections_per_user: int = Field(default=10, ge=1)
    max_connections_per_ip: int = Field(default=200, ge=1)
    send_queue_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Proxies (the gateway) whose X-Forwarded-For names the client of a WebSocket, for the
    # per-IP connection limit. Who the caller is comes from the signed identity, not from here.
    trusted_proxies: str = "127.0.0.1/32"
    # Channel patterns (fnmatch, space- or comma-separated) any authenticated user may
    # subscribe to, without a `channels` claim; empty: none besides `broadcast`. Never makes a
    # `user:` or `job:` channel public. Publishing stays service-only.
    public_channels: str = "zone:*"

    # --- history and recovery ---
    history_size: int = Field(default=100, ge=0)
    history_ttl_seconds: float = Field(default=600.0, gt=0)
    history_epoch: str = Field(default="1", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    recover_wait_seconds: float = Field(default=2.0, ge=0)

    # --- presence ---
    presence_heartbeat_seconds: float = Field(default=10.0, gt=0)

    # --- poll-to-push jobs (the demo "digest" worker) ---
    jobs_digest_delay_seconds: float = Field(default=1.0, ge=0)
