"""Web Push metrics on the app's registry (`/metrics`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

# Outcomes of one delivery (one message to one subscription, after any retries).
DELIVERED = "delivered"  # 2xx from the push service
GONE = "gone"  # 404/410: the subscription is dead and was deleted
REJECTED = "rejected"  # other 4xx (400 bad request, 403 VAPID refused, 413 too large): no retry
FAILED = "failed"  # 429/5xx/network errors until the attempts ran out
THROTTLED = "throttled"  # Retry-After beyond NOTIFIER_WEBPUSH_MAX_RETRY_AFTER_SECONDS


class WebPushMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter(
            "notifier_webpush_deliveries",
            "Web Push deliveries by outcome and the push service's last HTTP status "
            "(status 'error' = no HTTP answer).",
            ["outcome", "status"],
            registry=registry,
        )
        self.pruned = Counter(
            "notifier_webpush_subscriptions_pruned",
            "Subscriptions deleted by the notifier (gone: 404/410; expired: expirationTime).",
            ["reason"],
            registry=registry,
        )
        self.retries = Counter(
            "notifier_webpush_retries",
            "Delivery attempts repeated after a 429, a 5xx or a network error, by status.",
            ["status"],
            registry=registry,
        )
        self.saved = Counter(
            "notifier_webpush_subscriptions_saved",
            "Subscriptions created or refreshed through the API.",
            registry=registry,
        )
        self.deleted = Counter(
            "notifier_webpush_subscriptions_deleted",
            "Subscriptions deleted by their user through the API.",
            registry=registry,
        )

    def outcome(self, outcome: str, status: int | None) -> None:
        self.deliveries.labels(outcome, str(status) if status is not None else "error").inc()
