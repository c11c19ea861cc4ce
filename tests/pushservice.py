"""A local push service (RFC 8030) for tests: checks what a real one checks, then decrypts.

Each request to `POST /push/{id}` is checked like Mozilla's or Google's service would: the VAPID
`Authorization` (ES256 JWT verified with the `k=` key, `aud` = this service's origin, `exp`
within 24 h, a `sub`, and `k` = the key the subscriber subscribed with), `TTL`, `Urgency`,
`Topic`, `Content-Encoding: aes128gcm`, a body of at most 4096 bytes. Accepted messages are
decrypted with `http_ece.decrypt` and the subscriber's private key, as the browser would.
Tests script answers per subscriber (`script`) and can park requests in batches (`batch`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

import http_ece  # type: ignore[import-untyped]
import jwt
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

VAPID = re.compile(r"^vapid t=(?P<t>[^,\s]+),\s*k=(?P<k>[A-Za-z0-9_-]+)$")
TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
URGENCIES = {"very-low", "low", "normal", "high"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Subscriber:
    """What a browser holds for one push subscription."""

    id: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))
    server_key: str | None = None  # the applicationServerKey it subscribed with

    def subscription(self) -> dict[str, Any]:
        """`PushSubscription.toJSON()` as the browser sends it."""
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        keys = {"p256dh": b64url(point), "auth": b64url(self.auth)}
        return {"endpoint": self.endpoint, "expirationTime": None, "keys": keys}


@dataclass(frozen=True)
class Received:
    subscriber: str
    message: dict[str, Any]
    ttl: int
    urgency: str
    topic: str | None
    claims: dict[str, Any]


class PushService:
    def __init__(self) -> None:
        self.subscribers: dict[str, Subscriber] = {}
        self.received: list[Received] = []
        self.refused: list[tuple[str, int, str]] = []  # (subscriber, status, reason)
        self.attempts: dict[str, int] = {}
        self.scripts: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self.in_flight = self.max_in_flight = 0
        self.batch: int | None = None  # park requests until this many are in
        self._parked = 0
        self._released = asyncio.Event()
        self.arrived = asyncio.Condition()
        app = web.Application()
        app.router.add_post("/push/{id}", self._push)
        self.server = TestServer(app, host="127.0.0.1")

    async def __aenter__(self) -> PushService:
        await self.server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.close()

    @property
    def origin(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    def subscriber(self, server_key: str | None = None) -> Subscriber:
        sid = os.urandom(8).hex()
        sub = Subscriber(sid, f"{self.origin}/push/{sid}", server_key=server_key)
        self.subscribers[sid] = sub
        return sub

    def script(self, sid: str, *answers: tuple[int, dict[str, str]]) -> None:
        """Answer the next requests for `sid` with these (status, headers) before accepting."""
        self.scripts.setdefault(sid, []).extend(answers)

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        """Until `count` messages were accepted."""
        async with asyncio.timeout(timeout), self.arrived:
            await self.arrived.wait_for(lambda: len(self.received) >= count)

    async def _park(self) -> None:
        if self.batch is None:
            return
        released = self._released
        self._parked += 1
        if self._parked == self.batch:  # the batch is complete: let all of it through
            self._parked, self._released = 0, asyncio.Event()
            released.set()
        async with asyncio.timeout(5):
            await released.wait()

    async def _push(self, request: web.Request) -> web.Response:
        sid = request.match_info["id"]
        self.attempts[sid] = self.attempts.get(sid, 0) + 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await self._park()
            return await self._handle(sid, request)
        finally:
            self.in_flight -= 1

    def _refuse(self, sid: str, status: int, reason: str) -> web.Response:
        self.refused.append((sid, status, reason))
        return web.json_response({"errno": status, "message": reason}, status=status)

    async def _handle(self, sid: str, request: web.Request) -> web.Response:
        sub = self.subscribers.get(sid)
        if sub is None:
            return self._refuse(sid, 404, "no such subscription")
        auth = VAPID.match(request.headers.get("Authorization", ""))
        if auth is None:
            return self._refuse(sid, 401, "missing or malformed vapid authorization")
        try:
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(auth["k"]))
            claims: dict[str, Any] = jwt.decode(
                auth["t"], key, algorithms=["ES256"], audience=self.origin,
                options={"require": ["aud", "exp", "sub"]},
            )  # fmt: skip
        except (ValueError, jwt.PyJWTError) as exc:
            return self._refuse(sid, 401, f"bad vapid token: {exc}")
        if claims["exp"] > time.time() + 24 * 3600:
            return self._refuse(sid, 401, "vapid exp more than 24 h ahead")
        if not re.match(r"^(mailto:.+@.+|https://.+)$", str(claims["sub"])):
            return self._refuse(sid, 401, "vapid sub is not mailto: or https:")
        if sub.server_key is not None and auth["k"] != sub.server_key:
            return self._refuse(sid, 403, "vapid key is not the one subscribed with")
        ttl, urgency = request.headers.get("TTL", ""), request.headers.get("Urgency", "normal")
        topic = request.headers.get("Topic")
        if not ttl.isdigit() or urgency not in URGENCIES:
            return self._refuse(sid, 400, "bad TTL or Urgency")
        if topic is not None and not TOPIC.match(topic):
            return self._refuse(sid, 400, "bad Topic")
        if request.headers.get("Content-Encoding") != "aes128gcm":
            return self._refuse(sid, 415, "Content-Encoding must be aes128gcm")
        body = await request.read()
        if len(body) > 4096:
            return self._refuse(sid, 413, "payload over 4096 bytes")
        if self.scripts.get(sid):
            status, headers = self.scripts[sid].pop(0)
            return web.Response(status=status, headers=headers)
        try:
            plain = http_ece.decrypt(
                body, private_key=sub.private_key, auth_secret=sub.auth, version="aes128gcm"
            )
        except http_ece.ECEException as exc:
            return self._refuse(sid, 400, f"cannot decrypt: {exc.message}")
        got = Received(sid, json.loads(plain), int(ttl), urgency, topic, claims)
        async with self.arrived:
            self.received.append(got)
            self.arrived.notify_all()
        return web.Response(
            status=201, headers={"Location": f"{self.origin}/m/{len(self.received)}"}
        )
