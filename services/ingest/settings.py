"""Ingest configuration (environment variables prefixed `INGEST_`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

CONSUMERS = ("persist", "attribute", "live")


class IngestSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INGEST_", extra="ignore", frozen=True)

    port: int = Field(default=8085, ge=0, le=65535)
    # The consumer groups this process joins besides serving HTTP. A high-volume deployment
    # runs collector replicas with none (scaled on CPU) apart from the consumers.
    consumers: str = Field(default="persist,attribute,live", pattern=r"^[a-z, ]*$")
    # Peers (the gateway, an ingress controller) whose X-Forwarded-For is believed.
    trusted_proxies: str = "127.0.0.1/32"

    # L1 program cache (the seed's figures): LRU entries, their TTL, unknown ids' TTL.
    cache_size: int = Field(default=100_000, ge=1)
    cache_ttl_seconds: float = Field(default=600.0, gt=0)
    negative_ttl_seconds: float = Field(default=30.0, gt=0)

    # Publishing: how long a hit waits for the broker's acknowledgement before a 503, the
    # most records buffered or in flight (beyond: 503 at once), the Retry-After of a 503.
    publish_timeout_seconds: float = Field(default=2.0, gt=0)
    buffer_max: int = Field(default=20_000, ge=1)
    retry_after_seconds: int = Field(default=2, ge=1)
    # Largest producer batch per partition (under the broker's message.max.bytes, 1 MiB).
    producer_batch_bytes: int = Field(default=512 * 1024, ge=16 * 1024, le=1024 * 1024)

    # First-party identifier cookie.
    cookie_name: str = Field(default="surge_id", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    cookie_max_age_seconds: int = Field(default=365 * 86400, ge=60)
    cookie_secure: bool = True
    cookie_domain: str | None = None

    # Batch endpoint and raw request limits.
    batch_max_events: int = Field(default=500, ge=1, le=10_000)
    max_params: int = Field(default=50, ge=1, le=1000)
    bad_row_body_bytes: int = Field(default=8192, ge=256)

    # Consumers.
    consumer_group_prefix: str = Field(default="ingest", pattern=r"^[A-Za-z0-9._-]{1,100}$")
    persist_batch_size: int = Field(default=2000, ge=1, le=50_000)
    retention_seconds: int = Field(default=30 * 86400, ge=60)
    # Live page: per-second figures pushed to `campaign:<advertiser>.<program>`.
    live_interval_seconds: float = Field(default=1.0, gt=0)
    advertiser_claim: str = Field(default="advertisers", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")

    def consumer_set(self) -> frozenset[str]:
        wanted = frozenset(r.strip() for r in self.consumers.split(",") if r.strip())
        unknown = wanted - set(CONSUMERS)
        if unknown:
            raise ValueError(f"INGEST_CONSUMERS: unknown {sorted(unknown)} (known: {CONSUMERS})")
        return wanted
