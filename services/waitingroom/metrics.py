"""Waiting room metrics on /metrics: per-zone gauges read at scrape time, and the wait-time
histogram observed as admissions are applied (every replica applies the same log, so every
replica reports the same figures)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from services.waitingroom.positions import admitted_per_minute
from services.waitingroom.room import Room
from services.waitingroom.state import Note, ZoneState

WAIT_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)


class WaitingroomMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.wait = Histogram(
            "waitingroom_wait_seconds",
            "Time from joining to admission.",
            ["zone"],
            buckets=WAIT_BUCKETS,
            registry=registry,
        )

    def observe(self, zone: ZoneState, notes: list[Note]) -> None:
        for note in notes:
            waited = note.data.get("waited") if note.event == "admitted" else None
            if isinstance(waited, int | float):
                self.wait.labels(zone.config.id).observe(waited)


def gauges(room: Room, clock: Callable[[], float] = time.time) -> Callable[[], Iterator[Metric]]:
    def collect() -> Iterator[Metric]:
        now = clock()
        families = {
            "queue": GaugeMetricFamily(
                "waitingroom_queue_length", "Visitors waiting.", labels=["zone"]
            ),
            "active": GaugeMetricFamily(
                "waitingroom_active", "Visitors holding a live access token.", labels=["zone"]
            ),
            "rate": GaugeMetricFamily(
                "waitingroom_admitted_per_minute", "Admissions in the last minute.", labels=["zone"]
            ),
        }
        completed = CounterMetricFamily(
            "waitingroom_completed", "Tokens consumed.", labels=["zone"]
        )
        abandoned = CounterMetricFamily(
            "waitingroom_abandoned", "Places left or lapsed before admission.", labels=["zone"]
        )
        for zid, zone in room.zones.items():
            families["queue"].add_metric([zid], len(zone.line))
            families["active"].add_metric([zid], zone.active)
            families["rate"].add_metric([zid], admitted_per_minute(zone, now))
            completed.add_metric([zid], zone.completed)
            abandoned.add_metric([zid], zone.abandoned)
        yield from families.values()
        yield completed
        yield abandoned

    return collect
