"""The S3 backend against a real S3-protocol server (moto's server mode, over HTTP on this
machine): presigned POST uploads with their policy (type, size range, expiry), the whole
workflow and serving with the bytes in the bucket."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from moto.server import ThreadedMotoServer
from pydantic import SecretStr

from services.avatars.blobs.base import incoming_key
from services.avatars.blobs.s3 import S3BlobStore
from shared.stack.servers import free_port
from tests.avatars_images import photo_jpeg
from tests.avatars_support import running_avatars, settings, user

pytestmark = pytest.mark.integration
KEYS = {"s3_access_key_id": SecretStr("testing"), "s3_secret_access_key": SecretStr("testing")}


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


async def post_form(ticket: dict[str, object], data: bytes, content_type: str) -> int:
    form = aiohttp.FormData()
    for name, value in ticket["fields"].items():  # type: ignore[attr-defined]
        form.add_field(name, value)
    form.add_field("file", data, content_type=content_type, filename="avatar")
    async with (
        aiohttp.ClientSession() as session,
        session.post(str(ticket["url"]), data=form) as response,
    ):
        return response.status


async def test_presigned_posts_carry_the_policy(s3_endpoint: str, tmp_path: Path) -> None:
    config = settings(tmp_path, "s3", blob_backend="s3", s3_endpoint_url=s3_endpoint, **KEYS)
    store = S3BlobStore(config)
    await store.start()
    try:
        expires = datetime.now(UTC) + timedelta(minutes=5)
        ticket = await store.upload_ticket("a" * 32, "image/jpeg", 4096, expires, "unused")
        assert ticket.method == "POST"
        assert ticket.url.startswith(s3_endpoint)
        assert ticket.fields["key"] == incoming_key("a" * 32)
        assert ticket.fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
        policy = json.loads(base64.b64decode(ticket.fields["policy"]))
        assert ["content-length-range", 1, 4096] in policy["conditions"]
        assert {"Content-Type": "image/jpeg"} in policy["conditions"]
        assert policy["expiration"].startswith(expires.strftime("%Y-%m-%dT%H:%M"))
        small = photo_jpeg(32, 32)
        assert await post_form(ticket.view(), small, "image/jpeg") == 204
        assert await store.size(incoming_key("a" * 32)) == len(small)
        assert await store.get(incoming_key("a" * 32)) == small
        copy = tmp_path / "copy"
        assert await store.download(incoming_key("a" * 32), copy) == len(small)
        assert copy.read_bytes() == small
        await store.delete_prefix("incoming/")
        assert await store.get(incoming_key("a" * 32)) is None
        assert await store.size("missing") is None
        assert await store.ping()
    finally:
        await store.close()


async def test_the_workflow_runs_on_the_object_store(
    kafka_env: str, unique: str, tmp_path: Path, s3_endpoint: str
) -> None:
    config = settings(tmp_path, unique, blob_backend="s3", s3_endpoint_url=s3_endpoint, **KEYS)
    async with running_avatars(config) as avatars:
        created = await avatars.create("sam")
        early = await avatars.http.post(
            f"/avatars/uploads/{created['id']}/complete", headers=user("sam")
        )
        assert early.status == 409
        image = photo_jpeg(900, 700)
        assert await post_form(created["upload"], image, "image/jpeg") == 204
        done = await avatars.http.post(
            f"/avatars/uploads/{created['id']}/complete", headers=user("sam")
        )
        assert done.status == 202, await done.text()
        doc = await avatars.until(created["id"], {"published", "failed"})
        assert doc["state"] == "published", doc.get("reason")
        media = await avatars.http.get(f"/media/avatars/sam/{created['id']}/48x48.jpg")
        assert media.status == 200
        assert media.headers["X-Avatar-Source"] == "rendered"
        assert await avatars.ctx.blobs.get(incoming_key(created["id"])) is None
        assert not (tmp_path / "blobs").exists()  # nothing on local disk
