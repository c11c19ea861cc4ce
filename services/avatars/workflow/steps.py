"""The workflow's steps. Each takes the upload document in the state it handles and returns
the state to enter (with the fields to store), or `Stay` (fields only). Every step can run
again after a crash: blobs are written under deterministic keys (a re-run overwrites the same
bytes), documents are `$set`, and events carry deterministic ids.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.avatars.blobs.base import BlobStore, incoming_key, version_prefix
from services.avatars.cpu import CpuPool, inspect_task, moderate_task, render_many_task
from services.avatars.imaging.inspect import Limits
from services.avatars.imaging.sniff import RefusedImageError
from services.avatars.imaging.variants import EXTENSIONS
from services.avatars.moderation.base import Label, decide
from services.avatars.moderation.blocklist import Blocklist
from services.avatars.settings import AvatarsSettings
from services.avatars.workflow.notify import Announcer
from services.avatars.workflow.uploads import PROFILES, REVIEWS, VERSIONS

Doc = dict[str, Any]


@dataclass(frozen=True)
class Move:
    state: str
    fields: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


@dataclass(frozen=True)
class Stay:
    fields: dict[str, Any] = field(default_factory=dict)


Step = Callable[[Doc], Awaitable[Move | Stay]]


def canonical_key(doc: Doc) -> str:
    return version_prefix(doc["user"], doc["_id"]) + "canonical.webp"


def media_path(user: str, version: str, size: str, ext: str = "jpg") -> str:
    return f"/media/avatars/{user}/{version}/{size}.{ext}"


class Steps:
    def __init__(
        self,
        settings: AvatarsSettings,
        db: AsyncDatabase[Doc],
        blobs: BlobStore,
        pool: CpuPool,
        blocklist: Blocklist,
        announcer: Announcer,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings, self.db, self.blobs, self.pool = settings, db, blobs, pool
        self.blocklist, self.announcer, self.clock = blocklist, announcer, clock
        self.timeout = settings.step_timeout_seconds
        self.limits = Limits(settings.max_pixels, settings.max_side, settings.canonical_max_side)
        self.thresholds = settings.threshold_map()
        self.temp = settings.data_dir / "tmp"
        # Called when a version stops being served (the media cache forgets it at once).
        self.on_retire: Callable[[str, str], None] = lambda user, version: None

    def table(self) -> dict[str, Step]:
        """The step that handles each state."""
        return {
            "received": self.inspect,
            "inspected": self.moderate,
            "moderated": self.decide,
            "in_review": self.hold_for_review,
            "approved": self.make_variants,
            "variants_ready": self.publish,
            "rejected": self.finish_rejected,
            "failed": self.finish_failed,
        }

    async def inspect(self, doc: Doc) -> Move | Stay:
        self.temp.mkdir(parents=True, exist_ok=True)
        path = self.temp / f"{doc['_id']}-{uuid.uuid4().hex[:8]}"
        try:
            if await self.blobs.download(incoming_key(doc["_id"]), path) is None:
                raise RefusedImageError("the uploaded bytes are gone", 410)
            result = await self.pool.run(self.timeout, inspect_task, str(path), self.limits)
        finally:
            await asyncio.to_thread(path.unlink, True)
        await self.blobs.put(canonical_key(doc), result.canonical, "image/webp")
        return Move(
            "inspected",
            {
                "width": result.width,
                "height": result.height,
                "phash": result.phash,
                "source": {
                    "type": result.source_type,
                    "width": result.source_width,
                    "height": result.source_height,
                },
            },
        )

    async def moderate(self, doc: Doc) -> Move | Stay:
        banned = await self.blocklist.match(doc["phash"])
        if banned is not None:
            reason = f"matches a banned image (pHash distance {banned[1]})"
            return Move(
                "moderated", {"labels": [], "verdict": "rejected", "verdict_reason": reason}
            )
        canonical = await self._canonical(doc)
        found = await self.pool.run(self.timeout, moderate_task, canonical)
        labels = [Label(name, confidence) for name, confidence in found]
        verdict = decide(labels, self.thresholds)
        return Move(
            "moderated",
            {
                "labels": [{"name": lb.name, "confidence": lb.confidence} for lb in labels],
                "verdict": verdict.decision,
                "verdict_reason": verdict.reason,
            },
        )

    async def decide(self, doc: Doc) -> Move | Stay:
        return Move(
            doc["verdict"], {"reason": doc.get("verdict_reason", "")}, doc.get("verdict_reason", "")
        )

    async def hold_for_review(self, doc: Doc) -> Move | Stay:
        review = {
            "_id": doc["_id"],
            "user": doc["user"],
            "labels": doc.get("labels", []),
            "reason": doc.get("reason", ""),
            "since": self.clock(),
        }
        await self.db[REVIEWS].replace_one({"_id": doc["_id"]}, review, upsert=True)
        await self.announcer.state(doc, "in_review", doc.get("reason", ""))
        return Stay({"held": True})

    async def make_variants(self, doc: Doc) -> Move | Stay:
        canonical = await self._canonical(doc)
        sizes = self.settings.variant_size_list()
        formats = self.settings.eager_format_list()
        rendered = await self.pool.run(self.timeout, render_many_task, canonical, sizes, formats)
        prefix = version_prefix(doc["user"], doc["_id"])
        for name, data in rendered.items():
            ext = name.rsplit(".", 1)[1]
            fmt = next(f for f, e in EXTENSIONS.items() if e == ext)
            await self.blobs.put(prefix + name, data, f"image/{fmt}")
        urls = {f"{w}x{h}": media_path(doc["user"], doc["_id"], f"{w}x{h}") for w, h in sizes}
        return Move("variants_ready", {"variants": sorted(rendered), "urls": urls})

    async def publish(self, doc: Doc) -> Move | Stay:
        user, version, now = doc["user"], doc["_id"], self.clock()
        versions, profiles = self.db[VERSIONS], self.db[PROFILES]
        await versions.replace_one(
            {"_id": f"{user}/{version}"},
            {"user": user, "version": version, "state": "published", "at": now,
             "variants": doc.get("variants", []), "created_at": doc["created_at"]},
            upsert=True,
        )  # fmt: skip
        current = await profiles.find_one({"_id": user})
        newer = (
            current is None
            or current.get("version") == version
            or (current["created_at"] <= doc["created_at"])
        )
        if newer:
            await profiles.replace_one(
                {"_id": user},
                {"version": version, "urls": doc.get("urls", {}), "at": now,
                 "created_at": doc["created_at"]},
                upsert=True,
            )  # fmt: skip
            if current is not None and current.get("version") != version:
                await self._retire(user, current["version"], "replaced")
        else:  # a later upload was published first: this one is replaced at once
            await self._retire(user, version, "replaced")
        await self.blobs.delete([incoming_key(version)])
        await self.announcer.outcome(doc, "published")
        await self.announcer.state(doc, "published")
        return Move("published", {"version": version, "published_at": now})

    async def finish_rejected(self, doc: Doc) -> Move | Stay:
        await self._discard(doc)
        await self.announcer.outcome(doc, "rejected", doc.get("reason", ""))
        await self.announcer.state(doc, "rejected", doc.get("reason", ""))
        return Stay({"finished": True})

    async def finish_failed(self, doc: Doc) -> Move | Stay:
        await self._discard(doc)
        await self.announcer.outcome(doc, "failed", doc.get("reason", ""))
        await self.announcer.state(doc, "failed", doc.get("reason", ""))
        return Stay({"finished": True})

    async def _discard(self, doc: Doc) -> None:
        """The stored original, canonical image and variants go; nothing of it is served."""
        await self.db[REVIEWS].delete_one({"_id": doc["_id"]})
        await self.blobs.delete([incoming_key(doc["_id"])])
        await self.blobs.delete_prefix(version_prefix(doc["user"], doc["_id"]))
        self.on_retire(doc["user"], doc["_id"])

    async def _retire(self, user: str, version: str, state: str) -> None:
        await self.db[VERSIONS].update_one(
            {"_id": f"{user}/{version}"}, {"$set": {"state": state, "at": self.clock()}}
        )
        await self.blobs.delete_prefix(version_prefix(user, version))
        self.on_retire(user, version)

    async def _canonical(self, doc: Doc) -> bytes:
        data = await self.blobs.get(canonical_key(doc))
        if data is None:
            raise RefusedImageError("the canonical image is gone", 410)
        return data
