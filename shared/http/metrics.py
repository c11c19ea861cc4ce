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
_MAX_CHILDREN = 4096
_Children = tuple[Counter, Counter | None, Histogram]
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

        # `.labels()` takes a lock and builds keys on every call: keep the children per
        # (route, method, status). Bounded, as a client can invent methods.
        self._children: dict[tuple[str, str, int], _Children] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        children = self._children.get((route, method, status))
        if children is None:
            children = self._children_for(route, method, status)
        children[0].inc()
        if children[1] is not None:
            children[1].inc()
        children[2].observe(seconds)

    def _children_for(self, route: str, method: str, status: int) -> _Children:
        children: _Children = (
            self.requests.labels(route, method, str(status)),
            self.errors.labels(route, method) if status >= 500 else None,
            self.duration.labels(route, method),
        )
        if len(self._children) < _MAX_CHILDREN:
            self._children[(route, method, status)] = children
        return children

    def add_collector(self, produce: Callable[[], Iterable[Metric]]) -> None:
        self.registry.register(_Callback(produce))

    def render(self) -> bytes:
        return generate_latest(self.registry)
