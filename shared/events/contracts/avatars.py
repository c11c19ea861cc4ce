"""Events of the avatar pipeline (services/avatars, docs/avatars.md).

`avatars.uploads` carries the workflow's inputs, keyed by upload id so one upload's events stay
in order on one partition: an upload whose bytes are stored (`AvatarUploaded`) and a reviewer's
decision on an upload held for human review (`AvatarReviewDecided`). `avatars.moderated` is the
outcome other services consume (a profile cache, a leaderboard, the game's CDN purge).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events.catalog import CATALOG, EventSpec

UPLOAD_ID_PATTERN = r"^[a-f0-9]{32}$"


class Label(BaseModel):
    """One moderation label: a taxonomy name (Rekognition's top level) and a confidence."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, max_length=64)
    confidence: float = Field(ge=0, le=1)


class AvatarUploaded(BaseModel):
    model_config = ConfigDict(frozen=True)

    upload_id: str = Field(pattern=UPLOAD_ID_PATTERN)
    user: str = Field(min_length=1, max_length=128)
    size: int = Field(ge=0, description="Bytes stored")
    content_type: str = Field(description="The type the client declared (sniffed again later)")


class AvatarReviewDecided(BaseModel):
    model_config = ConfigDict(frozen=True)

    upload_id: str = Field(pattern=UPLOAD_ID_PATTERN)
    decision: Literal["approve", "reject"]
    reviewer: str = Field(min_length=1, max_length=128)
    reason: str = Field(default="", max_length=500)


class AvatarModerated(BaseModel):
    """An upload's final outcome: published as the player's avatar, or rejected."""

    model_config = ConfigDict(frozen=True)

    upload_id: str = Field(pattern=UPLOAD_ID_PATTERN)
    user: str
    outcome: Literal["published", "rejected", "failed"]
    version: str | None = Field(default=None, description="The published avatar version")
    reason: str = ""
    labels: list[Label] = Field(default_factory=list)
    urls: dict[str, str] = Field(
        default_factory=dict, description="Eager variant paths by size, e.g. 128x128"
    )
    decided_at: datetime


AVATAR_UPLOADED = CATALOG.register(
    EventSpec(
        type="avatars.uploaded.v1",
        topic="avatars.uploads",
        payload=AvatarUploaded,
        key=lambda u: u.upload_id,
        key_doc="upload_id, so one upload's workflow inputs stay in order",
        description="An avatar's bytes are stored: the moderation workflow starts.",
    )
)

AVATAR_REVIEW_DECIDED = CATALOG.register(
    EventSpec(
        type="avatars.review.decided.v1",
        topic="avatars.uploads",
        payload=AvatarReviewDecided,
        key=lambda d: d.upload_id,
        key_doc="upload_id",
        description="A reviewer approved or rejected an upload held for review.",
    )
)

AVATAR_MODERATED = CATALOG.register(
    EventSpec(
        type="avatars.moderated.v1",
        topic="avatars.moderated",
        payload=AvatarModerated,
        key=lambda m: m.user,
        key_doc="user, so one player's outcomes stay in order",
        description="The outcome of an avatar upload (published, rejected or failed).",
    )
)
