"""A zone's live summary (admin API, /metrics and the periodic metrics event)."""

from __future__ import annotations

import statistics
from typing import Any

from services.waitingroom.positions import admitted_per_minute
from services.waitingroom.state import ZoneState
from shared.events.contracts.waitingroom import ZoneMetrics


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 3)


def metrics(zone: ZoneState, now: float) -> ZoneMetrics:
    waits = list(zone.waits)
    return ZoneMetrics(
        zone=zone.config.id,
        status=zone.status,
        queue_length=len(zone.line),
        active=zone.active,
        completed=zone.completed,
        admitted_per_minute=admitted_per_minute(zone, now),
        median_wait_seconds=round(statistics.median(waits), 3) if waits else None,
        p95_wait_seconds=_percentile(waits, 0.95),
        abandoned=zone.abandoned,
    )


def summary(zone: ZoneState, now: float) -> dict[str, Any]:
    body = metrics(zone, now).model_dump()
    joined = len(zone.places)
    body.update(
        capacity=zone.config.capacity,
        max_active=zone.config.max_active,
        remaining=max(0, zone.config.capacity - zone.completed - zone.active),
        opened=zone.opened,
        paused=zone.paused,
        admit_by_hand_pending=zone.by_hand,
        abandonment_rate=round(zone.abandoned / joined, 4) if joined else 0.0,
        visitors=joined,
    )
    return body
