"""S3-compatible object storage (MinIO in compose, S3 or MinIO in k8s) through aiobotocore.

Uploads are real presigned S3 requests: a POST form upload whose policy pins the key, the
content type and `content-length-range` (S3 enforces the size limit itself while receiving;
a presigned PUT cannot bound the size), signed with SigV4 for the browser-facing endpoint
(`AVATARS_S3_PUBLIC_ENDPOINT_URL`, e.g. MinIO published on the host). The client then calls
`POST /avatars/uploads/<id>/complete`; single use is the upload's claim in the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from services.avatars.blobs.base import UploadTicket, incoming_key
from services.avatars.settings import AvatarsSettings

_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}
START_ATTEMPTS = 30
log = logging.getLogger("services.avatars.blobs")


class S3BlobStore:
    def __init__(self, settings: AvatarsSettings) -> None:
        self.settings = settings
        self.bucket = settings.s3_bucket
        self._stack = AsyncExitStack()
        self._client: Any = None
        self._presigner: Any = None

    def _client_args(self, endpoint: str | None) -> dict[str, Any]:
        s = self.settings
        args: dict[str, Any] = {
            "region_name": s.s3_region,
            "endpoint_url": endpoint,
            "config": AioConfig(signature_version="s3v4", s3={"addressing_style": "path"}),
        }
        if s.s3_access_key_id is not None and s.s3_secret_access_key is not None:
            args["aws_access_key_id"] = s.s3_access_key_id.get_secret_value()
            args["aws_secret_access_key"] = s.s3_secret_access_key.get_secret_value()
        return args

    async def start(self) -> None:
        session = get_session()
        internal = self.settings.s3_endpoint_url
        self._client = await self._stack.enter_async_context(
            session.create_client("s3", **self._client_args(internal))
        )
        public = self.settings.s3_public_endpoint_url
        self._presigner = self._client
        if public and public != internal:
            self._presigner = await self._stack.enter_async_context(
                session.create_client("s3", **self._client_args(public))
            )
        for attempt in range(START_ATTEMPTS):  # the object store may start after us (compose)
            try:
                await self._ensure_bucket()
                return
            except (ClientError, BotoCoreError, OSError):
                if attempt == START_ATTEMPTS - 1:
                    raise
                log.warning("object store not reachable yet (attempt %d)", attempt + 1)
                await asyncio.sleep(1.0)

    async def _ensure_bucket(self) -> None:
        try:
            await self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _code(exc) not in _MISSING:
                raise
            with contextlib.suppress(ClientError):  # created by another replica meanwhile
                await self._client.create_bucket(Bucket=self.bucket)

    async def close(self) -> None:
        await self._stack.aclose()

    async def ping(self) -> bool:
        try:
            await self._client.head_bucket(Bucket=self.bucket)
        except Exception:  # readiness reports, it never raises
            return False
        return True

    async def upload_ticket(
        self, upload_id: str, content_type: str, max_bytes: int, expires_at: datetime, base_url: str
    ) -> UploadTicket:
        seconds = max(1, int((expires_at - datetime.now(UTC)).total_seconds()))
        post = await self._presigner.generate_presigned_post(
            Bucket=self.bucket,
            Key=incoming_key(upload_id),
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
            ExpiresIn=seconds,
        )
        return UploadTicket(
            method="POST",
            url=post["url"],
            expires_at=expires_at,
            max_bytes=max_bytes,
            fields={k: str(v) for k, v in post["fields"].items()},
        )

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await self._client.put_object(
            Bucket=self.bucket, Key=key, Body=data, ContentType=content_type
        )

    async def _object(self, key: str) -> Any:
        """The GetObject answer, or None when there is no such object."""
        try:
            return await self._client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise

    async def get(self, key: str) -> bytes | None:
        response = await self._object(key)
        if response is None:
            return None
        async with response["Body"] as body:
            data: bytes = await body.read()
        return data

    async def download(self, key: str, path: Path) -> int | None:
        response = await self._object(key)
        if response is None:
            return None
        size = 0
        async with response["Body"] as body:
            with path.open("wb") as out:
                async for chunk in body.iter_chunks(256 * 1024):
                    out.write(chunk)
                    size += len(chunk)
        return size

    async def size(self, key: str) -> int | None:
        try:
            head = await self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise
        return int(head["ContentLength"])

    async def delete(self, keys: Sequence[str]) -> None:
        if keys:
            objects = [{"Key": key} for key in keys]
            await self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects})

    async def delete_prefix(self, prefix: str) -> None:
        paginator = self._client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            await self.delete([item["Key"] for item in page.get("Contents", [])])


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
