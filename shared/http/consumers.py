"""Run an `EventConsumer` inside a service: started and stopped with the app, reported on
`/readyz` and `/metrics` (records processed, retried, dead-lettered, duplicates, lag)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from shared.consumer import EventConsumer
from shared.http.app import add_readiness
from shared.http.keys import METRICS

ConsumerFactory = Callable[[web.Application], EventConsumer]

_COUNTERS = (
    ("processed", "Records handled successfully."),
    ("retried", "Handler attempts that failed and were retried."),
    ("dead_lettered", "Records sent to the dead-letter topic."),
    ("duplicates_skipped", "Redelivered records skipped by the idempotency guard."),
    ("commit_failures", "Offset commits refused by a rebalance (records are redelivered)."),
)


def _collect(consumers: list[EventConsumer]) -> Iterator[Metric]:
    families = {
        name: CounterMetricFamily(f"consumer_{name}", text, labels=["group"])
        for name, text in _COUNTERS
    }
    lag = GaugeMetricFamily(
        "consumer_lag",
        "Records not yet fetched, per partition.",
        labels=["group", "topic", "partition"],
    )
    for consumer in consumers:
        stats = consumer.stats()
        for name, family in families.items():
            family.add_metric([consumer.group_id], getattr(stats, name))
        for (topic, partition), behind in stats.lag.items():
            lag.add_metric([consumer.group_id, topic, str(partition)], behind)
    yield from families.values()
    yield lag


CONSUMERS = web.AppKey("consumers", list[EventConsumer])


def attach_consumer(app: web.Application, factory: ConsumerFactory) -> None:
    """Build the consumer once the bus and store exist (after the shared cleanup contexts).

    Several consumers per app share one metrics collector (one series per group)."""
    if CONSUMERS not in app:
        app[CONSUMERS] = []
    consumers = app[CONSUMERS]

    async def context(app: web.Application) -> AsyncIterator[None]:
        consumer = factory(app)
        if not consumers:
            app[METRICS].add_collector(lambda: _collect(consumers))
        consumers.append(consumer)

        async def running() -> bool:
            return consumer.running

        add_readiness(app, f"consumer:{consumer.group_id}", running)
        async for _ in consumer.lifespan(app):
            yield

    app.cleanup_ctx.append(context)
