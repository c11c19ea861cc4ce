"""Counters the consumer runtime keeps for `/metrics`."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.bus.base import TopicPartition


@dataclass
class ConsumerStats:
    processed: int = 0
    """Records whose handler succeeded."""
    retried: int = 0
    """Handler attempts that failed and were retried."""
    dead_lettered: int = 0
    """Records published to `<topic>.dlq` (poison, permanent errors, retries exhausted)."""
    dropped: int = 0
    """Records that failed for good with the dead-letter topic disabled (logged)."""
    duplicates_skipped: int = 0
    """Redelivered records the idempotency guard had already seen."""
    commit_failures: int = 0
    """Commits refused because the group rebalanced (those records are redelivered)."""
    lag: dict[TopicPartition, int] = field(default_factory=dict)
    """Records not yet fetched, per assigned partition."""
