"""The upload URL: forged, expired and replayed URLs are 403s, a body over the limit is a 413
sent before the body was read, bytes that are no image of the signed type are 415s, and an
image that cannot be decoded ends `failed` with its reason (never a 500)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.avatars_images import SVG, gif_js_polyglot, jpeg_with_zip_appended, photo_jpeg
from tests.avatars_support import running_avatars, settings, user
from tests.identity_support import signed

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_forged_expired_and_replayed_urls_are_refused(
    kafka_env: str, unique: str, tmp_path: Path
) -> None:
    clock = Clock()
    config = settings(tmp_path, unique, upload_url_ttl_seconds=60)
    async with running_avatars(config, clock=clock, consume=False) as avatars:
        image = photo_jpeg(320, 240)
        ticket = (await avatars.create("ann"))["upload"]
        assert ticket["method"] == "PUT"
        assert ticket["headers"] == {"Content-Type": "image/jpeg"}
        assert ticket["max_bytes"] == config.upload_max_bytes
        url = urlsplit(ticket["url"])
        query = parse_qs(url.query)
        forged = {**ticket, "url": ticket["url"].replace(query["sig"][0], "A" * 43)}
        later = str(int(query["expires"][0]) + 3600)
        extended = {**ticket, "url": ticket["url"].replace(query["expires"][0], later)}
        unsigned = {**ticket, "url": ticket["url"].split("?")[0]}
        for bad in (forged, extended, unsigned):
            refused = await avatars.put(bad, image)
            assert refused.status == 403, await refused.text()
            assert refused.content_type == "application/problem+json"
        other_type = await avatars.put(ticket, image, **{"Content-Type": "image/png"})
        assert other_type.status == 403
        assert "Content-Type: image/jpeg" in (await other_type.json())["detail"]

        accepted = await avatars.put(ticket, image)
        assert accepted.status == 200, await accepted.text()
        replayed = await avatars.put(ticket, image)
        assert replayed.status == 403
        assert "already used" in (await replayed.json())["detail"]

        late = (await avatars.create("ann"))["upload"]
        clock.now += timedelta(seconds=61)
        expired = await avatars.put(late, image)
        assert expired.status == 403
        assert "expired" in (await expired.json())["detail"]


async def test_an_oversized_body_gets_413_before_it_is_read(
    kafka_env: str, unique: str, tmp_path: Path
) -> None:
    config = settings(tmp_path, unique, upload_max_bytes=64 * 1024)
    async with running_avatars(config, consume=False) as avatars:
        declared = (await avatars.create("ann"))["upload"]
        big = await avatars.put(declared, b"\xff\xd8\xff" + b"\x00" * (80 * 1024))
        assert big.status == 413
        # Chunked, with no length to go by: the server must count while reading. We send
        # 96 KiB of a body that never ends; the 413 must come anyway.
        ticket = (await avatars.create("ann"))["upload"]
        url = urlsplit(ticket["url"])
        server = avatars.http.server
        reader, writer = await asyncio.open_connection(server.host, server.port)
        (identity,) = signed("avatars").items()  # as the gateway sends it
        writer.write(
            f"PUT {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"{identity[0]}: {identity[1]}\r\n"
            "Content-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        chunk = b"\xff\xd8\xff" + bytes(16 * 1024 - 3)
        for _ in range(6):
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()
        async with asyncio.timeout(10):
            status = await reader.readline()
        writer.close()
        assert status.startswith(b"HTTP/1.1 413"), status
        # The refused ticket can be used again (nothing was stored).
        small = await avatars.put(ticket, photo_jpeg(64, 64))
        assert small.status == 200, await small.text()


async def test_bytes_of_another_type_are_415(kafka_env: str, unique: str, tmp_path: Path) -> None:
    async with running_avatars(settings(tmp_path, unique), consume=False) as avatars:
        svg = await avatars.create("ann")
        refused = await avatars.put(svg["upload"], SVG)
        assert refused.status == 415
        assert "not a JPEG, PNG, WebP or GIF" in (await refused.json())["detail"]
        jpeg = await avatars.create("ann")
        appended = await avatars.put(jpeg["upload"], jpeg_with_zip_appended())
        assert appended.status == 415
        assert "end marker" in (await appended.json())["detail"]
        wrong = await avatars.http.post(
            "/avatars/uploads", json={"content_type": "image/svg+xml"}, headers=user("ann")
        )
        assert wrong.status == 415
        anonymous = await avatars.http.post("/avatars/uploads", json={})
        assert anonymous.status == 401
        status = await avatars.http.get(f"/avatars/uploads/{svg['id']}", headers=user("ann"))
        assert (await status.json())["state"] == "pending"


async def test_a_truncated_image_ends_failed_with_its_reason(
    kafka_env: str, unique: str, tmp_path: Path
) -> None:
    async with running_avatars(settings(tmp_path, unique)) as avatars:
        whole = photo_jpeg(640, 480)
        upload_id = await avatars.upload("ann", whole[: len(whole) // 2] + b"\xff\xd9")
        doc = await avatars.until(upload_id, {"failed"})
        assert doc["reason"].startswith("corrupt or truncated image"), doc["reason"]
        assert "attempts" not in doc  # a bad image is not retried
        status = await avatars.http.get(f"/avatars/uploads/{upload_id}", headers=user("ann"))
        assert status.status == 200
        assert (await status.json())["state"] == "failed"
        assert not (tmp_path / "blobs" / "incoming" / upload_id).exists()
        # A GIF that is also a script passes the upload's quick checks; inspection refuses it.
        polyglot = await avatars.upload("ann", gif_js_polyglot(), "image/gif")
        refused = await avatars.until(polyglot, {"failed"})
        assert "polyglot" in refused["reason"]
