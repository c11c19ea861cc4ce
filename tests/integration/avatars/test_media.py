"""Serving: allowed sizes rendered once at their exact dimensions and then served from the
store, disallowed sizes 400, Accept-based formats with Vary, ETag and 304, immutable caching,
and 404 for a rejected or replaced version."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pyvips

from tests.avatars_images import flat, photo_jpeg
from tests.avatars_support import running_avatars, settings, user

pytestmark = pytest.mark.integration
AVIF, WEBP = "image/avif,image/webp,*/*", "image/webp,*/*"


async def test_sizes_formats_caching_and_retired_versions(
    kafka_env: str, unique: str, tmp_path: Path
) -> None:
    async with running_avatars(settings(tmp_path, unique)) as avatars:
        http = avatars.http
        first = await avatars.upload("amy", photo_jpeg(1200, 900, seed=2))
        await avatars.until(first, {"published"})
        base = f"/media/avatars/amy/{first}"

        eager = await http.get(f"{base}/128x128.jpg")
        assert eager.status == 200
        assert eager.headers["X-Avatar-Source"] == "store"  # made by the workflow
        assert eager.content_type == "image/jpeg"
        assert eager.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert eager.headers["Vary"] == "Accept"

        lazy = f"{base}/96x96.jpg"
        assert not (tmp_path / "blobs" / "avatars" / "amy" / first / "96x96.avif").exists()
        renders = await asyncio.gather(
            *(http.get(lazy, headers={"Accept": AVIF}) for _ in range(8))
        )
        assert {r.status for r in renders} == {200}
        assert avatars.ctx.media.renders == 1  # eight concurrent misses, one render
        body = await renders[0].read()
        assert renders[0].content_type == "image/avif"
        image = pyvips.Image.new_from_buffer(body, "")
        assert (image.width, image.height) == (96, 96)
        assert not [f for f in image.get_fields() if f.startswith(("exif", "xmp", "icc"))]
        assert (tmp_path / "blobs" / "avatars" / "amy" / first / "96x96.avif").exists()
        avatars.ctx.media._bytes.clear()  # a fresh process: no memory cache
        again = await http.get(lazy, headers={"Accept": AVIF})
        assert again.headers["X-Avatar-Source"] == "store"
        assert avatars.ctx.media.renders == 1
        etag = again.headers["ETag"]
        assert await again.read() == body

        unchanged = await http.get(lazy, headers={"Accept": AVIF, "If-None-Match": etag})
        assert unchanged.status == 304
        assert unchanged.headers["ETag"] == etag
        webp = await http.get(lazy, headers={"Accept": WEBP})
        assert webp.content_type == "image/webp"
        jpeg = await http.get(lazy)
        assert jpeg.content_type == "image/jpeg"
        explicit = await http.get(f"{base}/96x96.webp", headers={"Accept": "image/jpeg"})
        assert explicit.content_type == "image/webp"
        assert "Vary" not in explicit.headers

        for bad in ("97x97.jpg", "5000x5000.jpg", "1x1.jpg"):
            refused = await http.get(f"{base}/{bad}")
            assert refused.status == 400, bad
            assert refused.content_type == "application/problem+json"
        assert (await http.get(f"{base}/96x96.png")).status == 404
        assert (await http.get(f"/media/avatars/amy/{'0' * 32}/96x96.jpg")).status == 404
        assert (await http.get("/media/avatars/amy/../../etc/96x96.jpg")).status == 404

        # A newer upload replaces the version: the old URLs answer 404.
        second = await avatars.upload("amy", photo_jpeg(800, 800, seed=3))
        await avatars.until(second, {"published"})
        assert (await http.get(f"{base}/128x128.jpg")).status == 404
        assert (await http.get(f"{base}/96x96.jpg")).status == 404
        assert not (tmp_path / "blobs" / "avatars" / "amy" / first).exists()
        me = await (await http.get("/avatars/me", headers=user("amy"))).json()
        assert me["version"] == second
        assert (await http.get(me["urls"]["256x256"])).status == 200

        rejected = await avatars.upload("amy", flat((250, 0, 0)), "image/png")
        await avatars.until(rejected, {"rejected"})
        assert (await http.get(f"/media/avatars/amy/{rejected}/128x128.jpg")).status == 404
