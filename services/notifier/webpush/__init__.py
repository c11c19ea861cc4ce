"""Web Push (RFC 8030 delivery, RFC 8291 aes128gcm encryption, RFC 8292 VAPID)."""

from services.notifier.webpush.config import WebPushFields, WebPushSettings
from services.notifier.webpush.routes import routes
from services.notifier.webpush.service import WEBPUSH, WebPush

__all__ = ["WEBPUSH", "WebPush", "WebPushFields", "WebPushSettings", "routes"]
