"""Avatars configuration (environment variables prefixed `AVATARS_`)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

SIZE = re.compile(r"^(\d{1,4})x(\d{1,4})$")
FORMATS = ("avif", "webp", "jpeg")


def parse_sizes(text: str) -> tuple[tuple[int, int], ...]:
    """ "64x64,128x128" -> ((64, 64), (128, 128)); refuses anything else."""
    sizes = []
    for item in text.replace(" ", "").split(","):
        match = SIZE.fullmatch(item)
        if not match or not all(0 < int(g) <= 4096 for g in match.groups()):
            raise ValueError(f"{item!r} is not a size like 128x128 (1-4096 each)")
        sizes.append((int(match.group(1)), int(match.group(2))))
    return tuple(dict.fromkeys(sizes))


class AvatarsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AVATARS_", extra="ignore", frozen=True)

    port: int = Field(default=8086, ge=0, le=65535)
    # Uploads stream through the upload URL; JSON bodies are read with their own small cap.
    max_request_bytes: int = Field(default=32 * 1024 * 1024, ge=1)
    # Where clients reach the gateway (upload URLs are absolute); unset: from the request's
    # X-Forwarded-Proto/-Host (the gateway sets them) or Host.
    public_url: str | None = None

    blob_backend: Literal["local", "s3"] = "local"
    data_dir: Path = Path(".run/data/avatars")
    s3_bucket: str = "avatars"
    s3_endpoint_url: str | None = None
    # The endpoint browsers send presigned uploads to (MinIO published on the host).
    s3_public_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None
    # HMAC key of the embedded backend's upload URLs; generated once and stored when unset.
    url_signing_key: SecretStr | None = None

    upload_max_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    upload_url_ttl_seconds: int = Field(default=300, ge=10, le=7 * 86400)
    upload_types: str = "image/jpeg,image/png,image/webp,image/gif"
    max_pixels: int = Field(default=40_000_000, ge=1)
    max_side: int = Field(default=12_000, ge=16)
    canonical_max_side: int = Field(default=1024, ge=64, le=8192)
    variant_sizes: str = "64x64,128x128,256x256"
    allowed_sizes: str = "32x32,48x48,64x64,96x96,128x128,192x192,256x256,512x512"
    eager_formats: str = "webp,jpeg"

    # "opennsfw" (the default model) or "package.module:Factory" (a Moderator).
    moderator: str = "opennsfw"
    # {"<label>": {"reject": r, "review": v}}; "*" for labels not listed. Confidences 0-1.
    thresholds: str = (
        '{"Explicit": {"reject": 0.85, "review": 0.4}, "*": {"reject": 0.9, "review": 0.6}}'
    )
    blocklist_max_distance: int = Field(default=10, ge=0, le=64)
    pool_workers: int = Field(default=2, ge=1, le=64)

    consumer_group: str = "avatars-workflow"
    # Members of the consumer group in this process: each fetches and handles its partitions on
    # its own, so one upload's I/O never leaves the CPU pool idle behind a shared batch.
    workflow_consumers: int = Field(default=4, ge=1, le=64)
    step_timeout_seconds: float = Field(default=60.0, gt=0)
    step_max_attempts: int = Field(default=4, ge=1, le=20)
    step_backoff_seconds: float = Field(default=0.5, ge=0)
    # A step claimed by a worker that stopped answering is taken over after this long.
    lease_seconds: float = Field(default=90.0, gt=0)

    webpush_ttl_seconds: int = Field(default=86_400, ge=0, le=2_419_200)

    @field_validator("variant_sizes", "allowed_sizes")
    @classmethod
    def _sizes(cls, value: str) -> str:
        parse_sizes(value)
        return value

    @field_validator("eager_formats")
    @classmethod
    def _formats(cls, value: str) -> str:
        unknown = {f for f in value.split(",") if f} - set(FORMATS)
        if unknown:
            raise ValueError(f"unknown formats {sorted(unknown)}; known: {', '.join(FORMATS)}")
        return value

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, value: str) -> str:
        parsed = json.loads(value)
        for label, pair in parsed.items():
            if set(pair) != {"reject", "review"} or not 0 <= pair["review"] <= pair["reject"] <= 1:
                raise ValueError(f"{label}: need 0 <= review <= reject <= 1")
        return value

    def variant_size_list(self) -> tuple[tuple[int, int], ...]:
        return parse_sizes(self.variant_sizes)

    def allowed_size_set(self) -> frozenset[tuple[int, int]]:
        return frozenset(parse_sizes(self.allowed_sizes) + self.variant_size_list())

    def eager_format_list(self) -> tuple[str, ...]:
        return tuple(f for f in self.eager_formats.split(",") if f)

    def upload_type_set(self) -> frozenset[str]:
        return frozenset(t.strip() for t in self.upload_types.split(",") if t.strip())

    def threshold_map(self) -> dict[str, tuple[float, float]]:
        """label -> (review, reject)."""
        parsed = json.loads(self.thresholds)
        return {k: (float(v["review"]), float(v["reject"])) for k, v in parsed.items()}
