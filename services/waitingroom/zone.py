"""A protected zone's configuration, as the admin API accepts it and the zone log carries it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.events.contracts.waitingroom import ZONE_PATTERN


class ZoneConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=ZONE_PATTERN)
    name: str = Field(default="", max_length=200)
    capacity: int = Field(ge=0, description="access tokens available (the inventory)")
    max_active: int = Field(ge=0, description="visitors inside the protected zone at once")
    admit_per_minute: float = Field(ge=0, le=1_000_000)
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    session_ttl: float = Field(default=600.0, gt=0, description="access token lifetime (s)")
    position_ttl: float = Field(default=300.0, gt=0, description="absence before a place lapses")
    queueing: Literal["fifo", "lottery"] = "fifo"
    # Tiers in admission order (first = highest), chosen by the visitor's `tier_claim` claim;
    # a visitor whose claim names no tier gets the last one.
    tiers: list[str] = Field(default_factory=lambda: ["general"], min_length=1, max_length=16)
    tier_claim: str = "tier"
    exempt: list[str] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _check(self) -> ZoneConfig:
        if len(set(self.tiers)) != len(self.tiers):
            raise ValueError("tiers must be distinct")
        for moment in (self.opens_at, self.closes_at):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("opens_at/closes_at need a timezone (e.g. ...Z)")
        if self.opens_at and self.closes_at and self.closes_at <= self.opens_at:
            raise ValueError("closes_at must be after opens_at")
        return self

    @property
    def opens(self) -> float | None:
        return self.opens_at.timestamp() if self.opens_at else None

    @property
    def closes(self) -> float | None:
        return self.closes_at.timestamp() if self.closes_at else None

    def tier_rank(self, tier: str) -> int:
        return self.tiers.index(tier) if tier in self.tiers else len(self.tiers) - 1

    def tier_for(self, claim: object) -> str:
        return claim if isinstance(claim, str) and claim in self.tiers else self.tiers[-1]
