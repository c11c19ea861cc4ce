"""The avatar workflow on the real broker and store: upload through the signed URL, inspect,
moderate (stub moderator in the pool), variants, publish; rejection, review, blocklist."""

from __future__ import annotations

from pathlib import Path

import pytest
import pyvips

from tests.avatars_images import flat, photo_jpeg, with_gps
from tests.avatars_support import ADMIN, running_avatars, settings, user

pytestmark = pytest.mark.integration


async def test_an_upload_is_inspected_moderated_and_published(
    kafka_env: str, unique: str, tmp_path: Path
) -> None:
    async with running_avatars(settings(tmp_path, unique)) as avatars:
        upload_id = await avatars.upload("ann", with_gps())
        doc = await avatars.until(upload_id, {"published", "failed", "rejected"})
        assert doc["state"] == "published", doc
        states = [h["state"] for h in doc["history"]]
        assert states == [
            "pending", "received", "inspected", "moderated", "approved", "variants_ready",
            "published",
        ]  # fmt: skip
        assert doc["labels"] == [{"name": "Explicit", "confidence": 0.02}]
        # Auto-oriented (orientation 6: 640x480 stored on its side) and shrunk to fit 1024.
        assert (doc["width"], doc["height"]) == (480, 640)
        blobs = tmp_path / "blobs" / "avatars" / "ann" / upload_id
        names = sorted(p.name for p in blobs.iterdir())
        assert names == [
            "128x128.jpg", "128x128.webp", "256x256.jpg", "256x256.webp", "64x64.jpg",
            "64x64.webp", "canonical.webp",
        ]  # fmt: skip
        for path in blobs.iterdir():  # no metadata block in anything stored
            image = pyvips.Image.new_from_file(str(path))
            kept = [f for f in image.get_fields() if f.startswith(("exif", "xmp", "iptc", "icc"))]
            assert kept == [], (path.name, kept)
            assert b"SurgeCam" not in path.read_bytes()
            assert b"secret" not in path.read_bytes()
        assert not (tmp_path / "blobs" / "incoming" / upload_id).exists()
        me = await avatars.http.get("/avatars/me", headers=user("ann"))
        assert (await me.json())["version"] == upload_id
        status = await avatars.http.get(f"/avatars/uploads/{upload_id}", headers=user("ann"))
        assert (await status.json())["state"] == "published"
        other = await avatars.http.get(f"/avatars/uploads/{upload_id}", headers=user("bob"))
        assert other.status == 404


async def test_red_is_rejected_and_its_bytes_deleted_yellow_waits_for_review(
    kafka_env: str, unique: str, tmp_path: Path
) -> None:
    async with running_avatars(settings(tmp_path, unique)) as avatars:
        red = await avatars.upload("cat", flat((250, 10, 10)), "image/png")
        yellow = await avatars.upload("cat", flat((250, 240, 10)), "image/png")
        rejected = await avatars.until(red, {"rejected"})
        assert "Explicit (0.97 >= 0.85)" in rejected["reason"]
        assert not (tmp_path / "blobs" / "avatars" / "cat" / red).exists()
        held = await avatars.until(yellow, {"in_review"})
        assert "Explicit (0.60 >= 0.4)" in held["reason"]
        listing = await avatars.http.get("/admin/avatars/reviews", headers=ADMIN)
        reviews = (await listing.json())["reviews"]
        assert [r["upload_id"] for r in reviews] == [yellow]
        assert reviews[0]["labels"] == [{"name": "Explicit", "confidence": 0.6}]
        image = await avatars.http.get(reviews[0]["image"], headers=ADMIN)
        assert image.status == 200
        assert image.content_type == "image/webp"
        refused = await avatars.http.get("/admin/avatars/reviews", headers=user("cat"))
        assert refused.status == 401
        decided = await avatars.http.post(
            f"/admin/avatars/reviews/{yellow}", json={"decision": "approve"}, headers=ADMIN
        )
        assert decided.status == 202, await decided.text()
        published = await avatars.until(yellow, {"published"})
        assert published["review"]["decision"] == "approve"
        empty = await (await avatars.http.get("/admin/avatars/reviews", headers=ADMIN)).json()
        assert empty["reviews"] == []
        again = await avatars.http.post(
            f"/admin/avatars/reviews/{yellow}", json={"decision": "reject"}, headers=ADMIN
        )
        assert again.status == 404


async def test_a_banned_image_and_its_near_duplicates_are_rejected(
    kafka_env: str, unique: str, tmp_path: Path
) -> None:
    async with running_avatars(settings(tmp_path, unique)) as avatars:
        original = photo_jpeg(800, 600, seed=11)
        first = await avatars.upload("dan", original)
        await avatars.until(first, {"published"})
        banned = await avatars.http.post(
            "/admin/avatars/blocklist", json={"upload_id": first, "reason": "spam"}, headers=ADMIN
        )
        assert banned.status == 201, await banned.text()
        # The same picture re-encoded smaller with a slight crop: a near-duplicate.
        copy = pyvips.Image.new_from_buffer(original, "").crop(8, 6, 784, 588).resize(0.5)
        near = await avatars.upload("eve", copy.jpegsave_buffer(Q=70))
        rejected = await avatars.until(near, {"rejected"})
        assert rejected["reason"].startswith("matches a banned image"), rejected["reason"]
        other = await avatars.upload("eve", photo_jpeg(800, 600, seed=12))
        assert (await avatars.until(other, {"published"}))["state"] == "published"
