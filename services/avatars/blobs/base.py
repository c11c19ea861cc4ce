"""The blob-store interface and the signed upload ticket the client receives.

Keys: `incoming/<upload>` (the bytes as uploaded, deleted once the upload ends),
`avatars/<user>/<version>/canonical.webp` and `.../<w>x<h>.<ext>` (variants).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from services.avatars.settings import AvatarsSettings
    from shared.store import Store


@dataclass(frozen=True)
class UploadTicket:
    """How to send the bytes: like an S3 presigned request, valid once until `expires_at`."""

    method: str  # PUT (embedded backend) or POST (S3 form upload with a policy)
    url: str
    expires_at: datetime
    max_bytes: int
    headers: dict[str, str] = field(default_factory=dict)  # send exactly these
    fields: dict[str, str] = field(default_factory=dict)  # POST form fields, before the file

    def view(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "url": self.url,
            "headers": self.headers,
            "fields": self.fields,
            "max_bytes": self.max_bytes,
            "expires_at": self.expires_at.isoformat(),
        }


def incoming_key(upload_id: str) -> str:
    return f"incoming/{upload_id}"


def version_prefix(user: str, version: str) -> str:
    return f"avatars/{user}/{version}/"


class BlobStore(Protocol):
    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> bool: ...
    async def upload_ticket(
        self, upload_id: str, content_type: str, max_bytes: int, expires_at: datetime, base_url: str
    ) -> UploadTicket: ...
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...
    async def get(self, key: str) -> bytes | None: ...
    async def download(self, key: str, path: Path) -> int | None:
        """Copy the blob to a local file (the pipeline decodes from files); its size."""
        ...

    async def size(self, key: str) -> int | None: ...
    async def delete(self, keys: Sequence[str]) -> None: ...
    async def delete_prefix(self, prefix: str) -> None: ...


async def open_blob_store(settings: AvatarsSettings, store: Store) -> BlobStore:
    if settings.blob_backend == "s3":
        from services.avatars.blobs.s3 import S3BlobStore

        return S3BlobStore(settings)
    from services.avatars.blobs.local import LocalBlobStore
    from services.avatars.blobs.signing import UrlSigner, signing_key

    key = await signing_key(settings, store.db["avatar_keys"])
    return LocalBlobStore(settings.data_dir, UrlSigner(key))
