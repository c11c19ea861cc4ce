"""Prometheus metrics every service exposes on `/metrics`.

One registry per app (not the process-global default) so tests and several apps in one
process never collide. Services add their own instruments to `metrics.registry`, and
register callbacks (`add_collector`) for values read at scrape time, such as consumer lag.

The request metrics every service keeps (`observe`, once per request) are plain numbers in
dictionaries, turned into the Prometheus families only when scraped: a client library counter
takes a lock and walks its value objects on each update, which cost a visible share of a
gateway request. Requests are observed on the event loop's thread only.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# The `le` labels as the client library writes them ("0.001" ... "10.0", "+Inf").
_BOUNDS = [repr(float(bound)) for bound in LATENCY_BUCKETS] + ["+Inf"]


class _Callback(Collector):
    def __init__(self, produce: Callable[[], Iterable[Metric]]) -> None:
        self._produce = produce

    def collect(self) -> Iterator[Metric]:
        yield from self._produce()


class _Series:
    """One (route, method): its latency histogram (a count per bucket, +Inf last) and sum."""

    __slots__ = ("buckets", "created", "sum")

    def __init__(self) -> None:
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.sum = 0.0
        self.created = time.time()


class _Count:
    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0
        self.created = time.time()


class _Requests(Collector):
    """http_server_requests, http_server_errors and http_server_request_duration_seconds."""

    def __init__(self) -> None:
        # (route, method, status) -> (its request count, its route's error count or None, the
        # route's latency series)
        self.children: dict[tuple[str, str, int], tuple[_Count, _Count | None, _Series]] = {}
        self.series: dict[tuple[str, str], _Series] = {}
        self.counts: dict[tuple[str, str, str], _Count] = {}
        self.errors: dict[tuple[str, str], _Count] = {}

    def child(self, route: str, method: str, status: int) -> tuple[_Count, _Count | None, _Series]:
        series = self.series.get((route, method))
        if series is None:
            series = self.series[(route, method)] = _Series()
        count = self.counts.get((route, method, str(status)))
        if count is None:
            count = self.counts[(route, method, str(status))] = _Count()
        error = None
        if status >= 500:
            error = self.errors.get((route, method))
            if error is None:
                error = self.errors[(route, method)] = _Count()
        child = self.children[(route, method, status)] = (count, error, series)
        return child

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "http_server_requests",
            "HTTP requests handled, by route, method and status code.",
            labels=["route", "method", "status"],
        )
        for (route, method, status), count in list(self.counts.items()):
            requests.add_metric([route, method, status], count.value, created=count.created)
        yield requests
        errors = CounterMetricFamily(
            "http_server_errors",
            "HTTP requests answered with a 5xx status, by route.",
            labels=["route", "method"],
        )
        for (route, method), error in list(self.errors.items()):
            errors.add_metric([route, method], error.value, created=error.created)
        yield errors
        name = "http_server_request_duration_seconds"
        duration = HistogramMetricFamily(
            name, "Time to produce the response headers, by route.", labels=["route", "method"]
        )
        created: list[tuple[dict[str, str], float]] = []
        for (route, method), series in list(self.series.items()):
            cumulative: list[tuple[str, float]] = []
            total = 0
            for bound, observed in zip(_BOUNDS, series.buckets, strict=True):
                total += observed
                cumulative.append((bound, total))
            duration.add_metric([route, method], cumulative, series.sum)
            created.append(({"route": route, "method": method}, series.created))
        yield duration
        if created:
            stamps = Metric(
                f"{name}_created", "Time to produce the response headers, by route.", "gauge"
            )
            for labels, stamp in created:
                stamps.add_sample(f"{name}_created", labels, stamp)
            yield stamps


class Metrics:
    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = _Requests()
        self.registry.register(self._requests)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        child = self._requests.children.get((route, method, status))
        if child is None:
            child = self._requests.child(route, method, status)
        count, error, series = child
        count.value += 1
        if error is not None:
            error.value += 1
        series.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        series.sum += seconds

    def add_collector(self, produce: Callable[[], Iterable[Metric]]) -> None:
        self.registry.register(_Callback(produce))

    def render(self) -> bytes:
        return generate_latest(self.registry)
