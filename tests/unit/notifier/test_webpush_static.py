"""Web Push static files and public key: the page, its script, the service worker."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.unit.notifier.webpush_harness import notifier

pytestmark = pytest.mark.unit


async def test_vapid_public_key_is_an_uncompressed_point() -> None:
    async with notifier() as client:
        response = await client.get("/notifier/webpush/vapid-public-key")
        key = (await response.json())["publicKey"]
        raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
        assert len(raw) == 65
        assert raw[0] == 4
        assert "=" not in key
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)


async def test_page_script_and_service_worker_are_served() -> None:
    async with notifier() as client:
        page = await client.get("/notifier/push/")
        assert page.status == 200
        assert page.content_type == "text/html"
        assert "/notifier/push/push.js" in await page.text()
        script = await client.get("/notifier/push/push.js")
        assert script.content_type == "text/javascript"
        assert "applicationServerKey" in await script.text()
        worker = await client.get("/notifier/push/sw.js")
        assert worker.status == 200
        assert worker.content_type == "text/javascript"
        assert worker.headers["Service-Worker-Allowed"] == "/notifier/push/"
        assert worker.headers["Cache-Control"] == "no-cache"
        text = await worker.text()
        assert "showNotification" in text
        assert "notificationclick" in text
        moved = await client.get("/notifier/push", allow_redirects=False)
        assert moved.status == 308
        assert moved.headers["Location"] == "/notifier/push/"
