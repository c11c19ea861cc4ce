"""The ingest's own metrics on `/metrics` (beside the shared HTTP and consumer ones).

Hit and bad-row counts are plain dict increments on the hot path, turned into Prometheus
families when scraped; cache figures are read from the cache at scrape time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from services.ingest.programs.cache import ProgramCache
from shared.http.metrics import LATENCY_BUCKETS, Metrics

# Programs named in labels: beyond this many, further ones count as "other" (a flood of ids
# must not grow the scrape without bound).
MAX_PROGRAM_LABELS = 2000


class Persisted(Protocol):
    inserted: int
    duplicates: int


class IngestMetrics:
    def __init__(self, metrics: Metrics) -> None:
        self.hits: dict[tuple[str, str, str], int] = {}
        self.bad_rows: dict[str, int] = {}
        self._programs: set[str] = set()
        self.publish_seconds = Histogram(
            "ingest_publish_seconds",
            "Time from handing a hit's records to the bus to the broker's acknowledgement.",
            buckets=LATENCY_BUCKETS,
            registry=metrics.registry,
        )
        self._metrics = metrics

    def hit(self, program: str, event_type: str, outcome: str, count: int = 1) -> None:
        if program not in self._programs:
            if len(self._programs) >= MAX_PROGRAM_LABELS:
                program = "other"
            else:
                self._programs.add(program)
        key = (program, event_type, outcome)
        self.hits[key] = self.hits.get(key, 0) + count

    def bad_row(self, reason: str) -> None:
        self.bad_rows[reason] = self.bad_rows.get(reason, 0) + 1

    def watch(self, cache: ProgramCache, waiting: Callable[[], int]) -> None:
        self._metrics.add_collector(lambda: self._collect(cache, waiting))

    def watch_persister(self, persister: Persisted) -> None:
        def collect() -> Iterator[Metric]:
            yield CounterMetricFamily(
                "ingest_persisted",
                "Events inserted into tracking_events.",
                value=persister.inserted,
            )
            yield CounterMetricFamily(
                "ingest_persist_duplicates",
                "Redelivered events the store already had (skipped, not stored twice).",
                value=persister.duplicates,
            )

        self._metrics.add_collector(collect)

    def _collect(self, cache: ProgramCache, waiting: Callable[[], int]) -> Iterator[Metric]:
        hits = CounterMetricFamily(
            "ingest_hits",
            "Hits by program, event type and outcome (accepted, bad, unavailable).",
            labels=["program", "type", "outcome"],
        )
        for (program, event_type, outcome), count in list(self.hits.items()):
            hits.add_metric([program, event_type, outcome], count)
        yield hits
        bad = CounterMetricFamily("ingest_bad_rows", "Rejected hits by reason.", labels=["reason"])
        for reason, count in list(self.bad_rows.items()):
            bad.add_metric([reason], count)
        yield bad
        stats = cache.stats
        for name, value, text in (
            ("hits", stats.hits, "L1 lookups answered with a program."),
            ("negative_hits", stats.negative_hits, "L1 lookups answered 'no such program'."),
            ("misses", stats.misses, "L1 lookups that had to read the store."),
            ("loads", stats.loads, "Store reads (one per key however many missed at once)."),
            ("load_errors", stats.load_errors, "Store reads that failed."),
            ("evictions", stats.evictions, "Entries pushed out by the LRU bound."),
            ("expirations", stats.expirations, "Entries dropped when their TTL passed."),
            ("pushed", stats.pushed, "Changes applied from programs.changes."),
        ):
            yield CounterMetricFamily(f"ingest_cache_{name}", text, value=value)
        yield GaugeMetricFamily(
            "ingest_cache_entries", "Programs in the L1 cache.", value=len(cache)
        )
        yield GaugeMetricFamily(
            "ingest_publish_waiting",
            "Records waiting for the broker's acknowledgement.",
            value=waiting(),
        )
