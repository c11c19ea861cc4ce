"""Shop configuration (environment variables prefixed `SHOP_`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class ShopSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SHOP_", extra="ignore", frozen=True)

    port: int = Field(default=8084, ge=0, le=65535)
    # The waiting room's own port inside the network (its complete API is not routed publicly).
    waitingroom_url: str = "http://127.0.0.1:8083"
