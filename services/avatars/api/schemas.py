"""The shapes the avatars API answers with (the OpenAPI document is generated from them)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

State = Literal[
    "pending", "received", "inspected", "moderated", "rejected", "in_review", "approved",
    "variants_ready", "published", "failed",
]  # fmt: skip


class HistoryEntry(BaseModel):
    state: State
    at: str = Field(description="RFC 3339 time the state was entered")


class LabelView(BaseModel):
    name: str = Field(description="Rekognition-style top-level label, e.g. Explicit")
    confidence: float = Field(ge=0, le=1)


class UploadTicketView(BaseModel):
    method: Literal["PUT", "POST"]
    url: str
    headers: dict[str, str] = Field(description="PUT: send exactly these headers")
    fields: dict[str, str] = Field(description="POST: form fields to send before the file")
    max_bytes: int
    expires_at: str


class UploadView(BaseModel):
    id: str
    state: State
    reason: str = Field(description="Why it was rejected, held or failed")
    created_at: str
    history: list[HistoryEntry]
    labels: list[LabelView] | None = None
    version: str | None = Field(default=None, description="Once published")
    urls: dict[str, str] | None = Field(default=None, description="Variant paths by size")


class UploadCreated(UploadView):
    upload: UploadTicketView
    status_url: str


class BlobAccepted(BaseModel):
    id: str
    state: State
    size: int
    status_url: str


class Profile(BaseModel):
    user: str
    version: str
    urls: dict[str, str]
    published_at: str


class ReviewItem(BaseModel):
    upload_id: str
    user: str
    labels: list[LabelView]
    reason: str
    since: str
    image: str = Field(description="Path of the canonical image (admin token)")


class Reviews(BaseModel):
    reviews: list[ReviewItem]


class ReviewQueued(BaseModel):
    upload_id: str
    decision: Literal["approve", "reject"]


class BlocklistEntry(BaseModel):
    phash: str
    reason: str
    by: str | None
    upload_id: str | None
    at: str


class Blocklist(BaseModel):
    entries: list[BlocklistEntry]


class Banned(BaseModel):
    phash: str
    reason: str
    upload_id: str | None
