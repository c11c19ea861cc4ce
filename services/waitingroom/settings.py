"""Waiting room configuration (environment variables prefixed `WAITINGROOM_`)."""

from __future__ import annotations

import uuid

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


def _replica_id() -> str:
    return uuid.uuid4().hex[:12]


class WaitingroomSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="WAITINGROOM_", extra="ignore", frozen=True)

    port: int = Field(default=8083, ge=0, le=65535)
    # PKCS#8 PEM of the P-256 key signing access tokens; generated and stored once when unset.
    signing_key: SecretStr | None = None
    # Names this process as the origin of the zone-log entries it writes.
    replica_id: str = Field(default_factory=_replica_id, pattern=r"^[A-Za-z0-9._-]{1,64}$")
    tick_seconds: float = Field(default=0.25, gt=0)
    apply_timeout_seconds: float = Field(default=10.0, gt=0)
    expiring_soon_seconds: float = Field(default=60.0, ge=0)
    # Position pushes per zone and second, front of the line first (admissions are not capped).
    position_pushes_per_second: float = Field(default=40.0, gt=0)
    metrics_seconds: float = Field(default=10.0, gt=0)
