"""Prometheus metrics every service exposes on `/metrics`.

One registry per app (not the process-global default) so tests and several apps in one
process never collide. Services add their own instruments to `metrics.registry`, and
register callbacks (`add_collector`) for values read at scrape time, such as consumer lag.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class _Callback(Collector):
    def __init__(self, produce: Callable[[], Iterable[Metric]]) -> None:
        self._produce = produce

    def collect(self) -> Iterator[Metric]:
        yield from self._produce()


class Metrics:
    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "http_server_requests",
            "HTTP requests handled, by route, method and status code.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "http_server_errors",
            "HTTP requests answered with a 5xx status, by route.",
            ["route", "method"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_server_request_duration_seconds",
            "Time to produce the response headers, by route.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        if status >= 500:
            self.errors.labels(route, method).inc()
        self.duration.labels(route, method).observe(seconds)

    def add_collector(self, produce: Callable[[], Iterable[Metric]]) -> None:
        self.registry.register(_Callback(produce))

    def render(self) -> bytes:
        return generate_latest(self.registry)
