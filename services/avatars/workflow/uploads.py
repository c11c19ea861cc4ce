"""Upload documents (`avatar_uploads`, `_id` = upload id): the workflow's state per upload.

States: pending (URL issued) -> received -> inspected -> moderated -> rejected | in_review |
approved -> variants_ready -> published, or failed with a reason. `history` lists each state
with when it was entered; `finished` marks a rejected or failed upload whose clean-up and
notifications are done.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.collection import AsyncCollection

STATES = (
    "pending",
    "received",
    "inspected",
    "moderated",
    "rejected",
    "in_review",
    "approved",
    "variants_ready",
    "published",
    "failed",
)
TERMINAL = frozenset({"published", "rejected", "failed"})
UPLOADS, PROFILES, VERSIONS, REVIEWS, LEASES = (
    "avatar_uploads",
    "avatar_profiles",
    "avatar_versions",
    "avatar_reviews",
    "avatar_leases",
)
INDEXES = {
    LEASES: [IndexModel([("at", 1)], expireAfterSeconds=7 * 86400, name="at_ttl")],
}
Doc = dict[str, Any]


class Uploads:
    def __init__(self, collection: AsyncCollection[Doc]) -> None:
        self.collection = collection

    async def get(self, upload_id: str) -> Doc | None:
        return await self.collection.find_one({"_id": upload_id})

    async def create(self, doc: Doc) -> None:
        await self.collection.insert_one(doc)

    async def move(
        self, upload_id: str, state: str, at: datetime, fields: Mapping[str, Any] | None = None
    ) -> None:
        """Enter `state` (with `fields`); one writer per upload at a time holds its lease."""
        await self.collection.update_one(
            {"_id": upload_id},
            {"$set": {**(fields or {}), "state": state, "updated_at": at},
             "$push": {"history": {"state": state, "at": at}}},
        )  # fmt: skip

    async def update(self, upload_id: str, fields: Mapping[str, Any]) -> None:
        await self.collection.update_one({"_id": upload_id}, {"$set": dict(fields)})


def view(doc: Doc) -> dict[str, Any]:
    """What the player (and the admin API) sees of an upload."""
    out: dict[str, Any] = {
        "id": doc["_id"],
        "state": doc["state"],
        "reason": doc.get("reason", ""),
        "created_at": doc["created_at"].isoformat(),
        "history": [
            {"state": h["state"], "at": h["at"].isoformat()} for h in doc.get("history", [])
        ],
    }
    if doc.get("labels") is not None:
        out["labels"] = doc["labels"]
    if doc.get("state") == "published":
        out["version"] = doc["_id"]
        out["urls"] = doc.get("urls", {})
    return out
