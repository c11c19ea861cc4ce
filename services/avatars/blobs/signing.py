"""Upload URLs the service signs for its embedded backend, checked on the way back in.

`PUT /avatars/blobs/<upload>?expires=<unix s>&sig=<base64url HMAC-SHA256>`; the signature
covers the method, the upload id, the expiry, the size limit and the content type the client
must send, so none of them can be changed. Single use is the upload's claim in the store.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING, Any

from shared.security import constant_time_equals
from shared.storeops import insert_or_get

if TYPE_CHECKING:
    from pymongo.asynchronous.collection import AsyncCollection

    from services.avatars.settings import AvatarsSettings


class UrlSigner:
    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the URL signing key needs at least 32 bytes")
        self._key = key

    def sign(self, upload_id: str, expires: int, max_bytes: int, content_type: str) -> str:
        message = f"PUT\n{upload_id}\n{expires}\n{max_bytes}\n{content_type}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def valid(
        self, signature: str, upload_id: str, expires: int, max_bytes: int, content_type: str
    ) -> bool:
        return constant_time_equals(
            signature, self.sign(upload_id, expires, max_bytes, content_type)
        )


async def signing_key(settings: AvatarsSettings, keys: AsyncCollection[dict[str, Any]]) -> bytes:
    """AVATARS_URL_SIGNING_KEY, or one generated once and shared by every replica."""
    if settings.url_signing_key is not None:
        return settings.url_signing_key.get_secret_value().encode()
    stored = await insert_or_get(keys, {"_id": "upload-url", "key": secrets.token_urlsafe(48)})
    return str(stored["key"]).encode()
