"""Web Push settings: what `WebPush` reads, and the fields that provide it.

`WebPushSettings` is the structural type `WebPush` needs. `WebPushFields` declares the fields
(environment variables `NOTIFIER_VAPID_*` / `NOTIFIER_WEBPUSH_*` once mixed into
`NotifierSettings`, whose `platform` completes the protocol).
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, Field, SecretStr

from shared.settings import PlatformSettings

SUBJECT_PATTERN = r"^(mailto:[^@\s]+@[^@\s]+|https://\S+)$"


class WebPushSettings(Protocol):
    @property
    def platform(self) -> PlatformSettings: ...
    @property
    def vapid_private_key(self) -> SecretStr | None: ...
    @property
    def vapid_subject(self) -> str: ...
    @property
    def webpush_allow_insecure_hosts(self) -> str: ...
    @property
    def webpush_allowed_hosts(self) -> str: ...
    @property
    def webpush_max_attempts(self) -> int: ...
    @property
    def webpush_concurrency(self) -> int: ...
    @property
    def webpush_timeout_seconds(self) -> float: ...
    @property
    def webpush_backoff_seconds(self) -> float: ...
    @property
    def webpush_max_retry_after_seconds(self) -> float: ...
    @property
    def webpush_max_subscriptions_per_user(self) -> int: ...
    @property
    def webpush_max_pending(self) -> int: ...


class WebPushFields(BaseModel):
    """Mix into a settings class: `class NotifierSettings(ServiceSettings, WebPushFields)`."""

    # VAPID private key: PEM (EC P-256) or base64url of the raw 32-byte scalar. Unset: one is
    # generated on first start and kept in the store (collection `webpush_vapid`).
    vapid_private_key: SecretStr | None = None
    # The contact push services may use (RFC 8292 `sub`): mailto: or https:.
    vapid_subject: str = Field(default="mailto:webpush@surge.invalid", pattern=SUBJECT_PATTERN)
    # Hosts whose push endpoints may be plain http (the local push-service double).
    webpush_allow_insecure_hosts: str = "127.0.0.1,localhost"
    # Host suffixes endpoints must match (e.g. "push.services.mozilla.com,fcm.googleapis.com");
    # empty = any https host. Set it in production: endpoints are URLs this server POSTs to.
    webpush_allowed_hosts: str = ""
    webpush_max_attempts: int = Field(default=4, ge=1, le=20)
    webpush_concurrency: int = Field(default=64, ge=1)
    webpush_timeout_seconds: float = Field(default=10.0, gt=0)
    # First retry delay; doubles per attempt (with jitter), capped at 60 s.
    webpush_backoff_seconds: float = Field(default=0.5, gt=0)
    # A Retry-After longer than this gives up instead of holding the delivery.
    webpush_max_retry_after_seconds: float = Field(default=120.0, ge=0)
    webpush_max_subscriptions_per_user: int = Field(default=20, ge=1)
    # Deliveries queued or in flight; notify_user waits for room beyond it (backpressure).
    webpush_max_pending: int = Field(default=10_000, ge=1)


def split_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip().lower() for item in text.split(",") if item.strip())
