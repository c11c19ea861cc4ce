"""Notifier metrics on /metrics (the app's registry, see shared.http.metrics)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric

from services.notifier.history import History
from services.notifier.hub import Hub


class NotifierMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter(
            "notifier_deliveries",
            "Publications written to local WebSockets (rate() gives deliveries/s).",
            registry=registry,
        )
        self.publications = Counter(
            "notifier_publications",
            "Publications read from notifier.publications by this replica.",
            registry=registry,
        )
        self.recoveries = Counter(
            "notifier_recoveries",
            "Recovery requests by outcome (hit: missed publications sent; miss: recover_failed).",
            ["outcome"],
            registry=registry,
        )
        self.refused = Counter(
            "notifier_connections_refused",
            "Connections closed before or at authentication, by close code.",
            ["code"],
            registry=registry,
        )
        self.slow_consumers = Counter(
            "notifier_slow_consumer_disconnects",
            "Connections closed with 4009 because their send queue overflowed.",
            registry=registry,
        )
        self.notifications = Counter(
            "notifier_notifications_ingested",
            "NotificationRequested events turned into publications (the `notifier` group).",
            registry=registry,
        )

    def hit(self) -> None:
        self.recoveries.labels("hit").inc()

    def miss(self) -> None:
        self.recoveries.labels("miss").inc()


def gauges(hub: Hub, history: History) -> Callable[[], Iterator[Metric]]:
    """Values read at scrape time (cheap: counts kept by the hub, one pass for queue bytes)."""

    def collect() -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "notifier_connections", "Open WebSocket connections.", value=len(hub.sessions)
        )
        yield GaugeMetricFamily(
            "notifier_users", "Distinct authenticated users connected.", value=len(hub.users)
        )
        yield GaugeMetricFamily(
            "notifier_subscriptions",
            "Channel subscriptions across local connections.",
            value=sum(len(members) for members in hub.channels.values()),
        )
        total, largest = hub.queue_depth()
        yield GaugeMetricFamily(
            "notifier_send_queue_bytes", "Bytes waiting in every send queue.", value=total
        )
        yield GaugeMetricFamily(
            "notifier_send_queue_max_bytes", "Largest single send queue.", value=largest
        )
        yield GaugeMetricFamily(
            "notifier_history_entries", "Publications kept for recovery.", value=history.entries()
        )
        yield GaugeMetricFamily(
            "notifier_history_channels", "Channels with history.", value=len(history.channels)
        )

    return collect
