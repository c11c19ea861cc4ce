"""The embedded backend: files under AVATARS_DATA_DIR (`.run/data/avatars` under `make run`).

Uploads arrive through the gateway on the service's signed URL and are written to disk as they
stream (`receive`), never held whole in memory. Every write goes to a temporary file renamed
into place, so a reader sees a whole blob or none, and a crash leaves no half-written one.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

from services.avatars.blobs.base import UploadTicket
from services.avatars.blobs.signing import UrlSigner


class LocalBlobStore:
    def __init__(self, root: Path, signer: UrlSigner) -> None:
        self.root = root.resolve()
        self.signer = signer

    async def start(self) -> None:
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        return None

    async def ping(self) -> bool:
        return (self.root / "blobs").is_dir()

    def path(self, key: str) -> Path:
        path = (self.root / "blobs" / key).resolve()
        if not path.is_relative_to(self.root / "blobs"):
            raise ValueError(f"blob key {key!r} leaves the store")
        return path

    def temp_path(self) -> Path:
        return self.root / "tmp" / uuid.uuid4().hex

    async def upload_ticket(
        self, upload_id: str, content_type: str, max_bytes: int, expires_at: datetime, base_url: str
    ) -> UploadTicket:
        expires = int(expires_at.timestamp())
        sig = self.signer.sign(upload_id, expires, max_bytes, content_type)
        query = urlencode({"expires": expires, "sig": sig})
        return UploadTicket(
            method="PUT",
            url=f"{base_url}/avatars/blobs/{upload_id}?{query}",
            expires_at=expires_at,
            max_bytes=max_bytes,
            headers={"Content-Type": content_type},
        )

    async def receive(self, key: str, chunks: AsyncIterator[bytes]) -> int:
        """Write a streamed body to the blob `key`; the caller's iterator enforces limits (an
        exception from it leaves nothing behind)."""
        temp = self.temp_path()
        size = 0
        try:
            with temp.open("wb") as out:
                async for chunk in chunks:
                    out.write(chunk)
                    size += len(chunk)
            await asyncio.to_thread(self._place, temp, self.path(key))
        finally:
            temp.unlink(missing_ok=True)
        return size

    def _place(self, temp: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, target)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write, key, data)

    def _write(self, key: str, data: bytes) -> None:
        temp = self.temp_path()
        try:
            temp.write_bytes(data)
            self._place(temp, self.path(key))
        finally:
            temp.unlink(missing_ok=True)

    async def get(self, key: str) -> bytes | None:
        try:
            return await asyncio.to_thread(self.path(key).read_bytes)
        except FileNotFoundError:
            return None

    async def download(self, key: str, path: Path) -> int | None:
        try:
            return await asyncio.to_thread(_copy, self.path(key), path)
        except FileNotFoundError:
            return None

    async def size(self, key: str) -> int | None:
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError:
            return None

    async def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            self.path(key).unlink(missing_ok=True)

    async def delete_prefix(self, prefix: str) -> None:
        folder = self.path(prefix.rstrip("/"))
        await asyncio.to_thread(shutil.rmtree, folder, True)


def _copy(source: Path, target: Path) -> int:
    """A hard link when both are on one file system (no bytes copied; blobs are never written
    in place, only replaced), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        if not source.exists():
            raise FileNotFoundError(source) from None
        shutil.copyfile(source, target)
    return target.stat().st_size
