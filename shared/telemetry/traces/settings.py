"""Settings of the trace tools (`traces`, `make traces ARGS=serve`): where they read and listen.

The span folder itself is the platform's `SPANS_DIR` (what the services write)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TracesSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRACES_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"  # the console has no login: keep it on loopback
    port: int = Field(default=8095, ge=0, le=65535)
    logs_dir: Path = Path(".run/logs")  # `make run` writes each service's log lines here
    groups_file: Path = Path(".run/trace-groups.json")  # saved filter expressions
    window_minutes: float = Field(default=60.0, gt=0)  # the console's default time range
