"""Settings of the local stack runner itself (`make run`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class StackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STACK_", extra="ignore", frozen=True)

    kafka_port: int = Field(default=9092, ge=0, le=65535)  # 0 picks a free port
    kafka_controller_port: int = Field(default=9093, ge=0, le=65535)
    ferretdb_port: int = Field(default=27017, ge=0, le=65535)
    run_dir: str = ".run"
    ready_timeout_seconds: float = Field(default=60.0, gt=0)
