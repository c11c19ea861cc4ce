"""The push message: the JSON the service worker reads, capped, then encrypted (RFC 8291).

Every push service must accept 4096 bytes of encrypted body (RFC 8030 section 7.2); aes128gcm
adds an 86-byte header (16 salt, 4 record size, 1 + 65 key id) and 17 bytes per record (the
delimiter and the tag), so the JSON is capped at 3993 bytes: past that `data` is dropped and
`truncated: true` set, then the body shortened, so the notification itself always arrives.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import http_ece  # type: ignore[import-untyped]  # no type information shipped
from cryptography.hazmat.primitives.asymmetric import ec

from shared.events.contracts.notifier import WebPushRequest

RECORD_SIZE = 4096
MAX_BODY_BYTES = 4096
MAX_PLAINTEXT_BYTES = MAX_BODY_BYTES - 86 - 17
TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
URGENCIES = frozenset({"very-low", "low", "normal", "high"})


def _dump(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def build(payload: dict[str, Any], request: WebPushRequest) -> bytes:
    """{title, body, url, event, channel, data} as compact JSON within MAX_PLAINTEXT_BYTES."""
    message: dict[str, Any] = {
        "title": request.title or str(payload.get("title") or payload.get("event") or ""),
        "body": request.body or str(payload.get("body") or ""),
        "url": request.url or payload.get("url"),
        "event": payload.get("event"),
        "channel": payload.get("channel"),
        "data": payload.get("data") if isinstance(payload.get("data"), dict) else {},
    }
    encoded = _dump(message)
    if len(encoded) <= MAX_PLAINTEXT_BYTES:
        return encoded
    message["data"], message["truncated"] = {}, True
    encoded = _dump(message)
    while len(encoded) > MAX_PLAINTEXT_BYTES:  # long texts, each at most a few KB: few rounds
        for field in ("body", "url", "title", "event", "channel"):
            value = message.get(field)
            if isinstance(value, str) and value:
                message[field] = value[: len(value) // 2]
                break
        else:
            raise ValueError("the push message cannot be made small enough")
        encoded = _dump(message)
    return encoded


def encrypt(plaintext: bytes, p256dh: bytes, auth: bytes) -> bytes:
    """aes128gcm with a fresh ephemeral ECDH key and salt per message (RFC 8291)."""
    sender = ec.generate_private_key(ec.SECP256R1())
    body: bytes = http_ece.encrypt(
        plaintext,
        salt=os.urandom(16),
        private_key=sender,
        dh=p256dh,
        auth_secret=auth,
        version="aes128gcm",
        rs=RECORD_SIZE,
    )
    return body


def headers(request: WebPushRequest, authorization: str) -> dict[str, str]:
    out = {
        "TTL": str(request.ttl_seconds),
        "Urgency": request.urgency if request.urgency in URGENCIES else "normal",
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
        "Authorization": authorization,
    }
    if request.topic is not None and TOPIC.fullmatch(request.topic):
        out["Topic"] = request.topic  # replaces an undelivered message with the same topic
    return out
