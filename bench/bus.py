"""Bus benchmark: our bus (KafkaBus + EventConsumer) against raw aiokafka, same broker, one run.

    python bench/bus.py [--quick] [--messages N] [--rounds R] [--telemetry file|sdk|off]

Both sides move the same records (same key, JSON value and `ce_*` headers) through a tansu
broker started here, with the same producer settings (acks=all, gzip, linger 5 ms,
idempotence off: tansu rejects it) and aiokafka's default partitioner. Publishing is concurrent
on both sides, as a service under load would do it (256 publishes in flight, each awaited until
acknowledged). Consuming is timed from the first record to the last, after the group join, in
a consumer group with a commit per batch; ours decodes every CloudEvent, opens a CONSUMER span
and calls a no-op handler. Ours runs traced as a service runs by default (`--telemetry file`:
OpenTelemetry SDK, JsonlFileSpanProcessor, JSONL span file in a temporary directory); a phase's
time includes flushing the spans it created. One warm-up round per side, then the median of
`--rounds` rounds. Progress goes to stderr; stdout gets one JSON line with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel

from shared.bus.base import Record
from shared.bus.codec import encode
from shared.bus.kafka import KafkaBus
from shared.consumer import EventConsumer
from shared.events.catalog import Catalog, EventSpec
from shared.events.envelope import CloudEvent
from shared.settings import PlatformSettings
from shared.stack.tansu import Tansu
from shared.telemetry import Telemetry, configure_telemetry

BATCH = 500
IN_FLIGHT = 256  # concurrent publishes, as many request handlers publishing at once


async def windowed(calls: list[Callable[[], Awaitable[Any]]]) -> None:
    """Run the calls with IN_FLIGHT of them awaiting acknowledgement at any time."""
    pending = iter(calls)

    async def worker() -> None:
        for call in pending:
            await call()

    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))


class Parcel(BaseModel):
    parcel_id: str
    weight_grams: int


def parcel_spec(topic: str) -> EventSpec[Parcel]:
    return EventSpec(
        type="bench.parcel.weighed.v1",
        topic=topic,
        payload=Parcel,
        key=lambda parcel: parcel.parcel_id,
        key_doc="parcel_id",
        description="benchmark event",
    )


def catalog_with(spec: EventSpec[Parcel]) -> Catalog:
    catalog = Catalog()
    catalog.register(spec)
    return catalog


@dataclass
class Figures:
    publish_seconds: float
    consume_seconds: float
    messages: int

    def rates(self) -> dict[str, float]:
        total = self.publish_seconds + self.consume_seconds
        return {
            "publish_msgs_per_s": self.messages / self.publish_seconds,
            "consume_msgs_per_s": self.messages / self.consume_seconds,
            "total_msgs_per_s": self.messages / total,
        }


def medians(runs: list[Figures]) -> dict[str, float]:
    """Per figure, the median over the measured rounds (robust to one noisy round)."""
    rates = [run.rates() for run in runs]
    return {name: round(statistics.median(r[name] for r in rates)) for name in rates[0]}


def flush_spans() -> None:
    """Wait until the spans ended so far are exported (a no-op without the SDK)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush()


def progress(message: str) -> None:
    print(f"[bench/bus] {message}", file=sys.stderr, flush=True)


def make_events(topic: str, count: int, size: int) -> list[CloudEvent[Parcel]]:
    spec, pad = parcel_spec(topic), "x" * max(0, size - 40)
    return [
        spec.new(Parcel(parcel_id=f"p{n}-{pad}", weight_grams=n), source="/bench")
        for n in range(count)
    ]


async def ours(platform: PlatformSettings, count: int, size: int) -> Figures:
    spec = parcel_spec(f"bench-ours-{uuid.uuid4().hex[:8]}")
    events = make_events(spec.topic, count, size)
    bus = KafkaBus(platform, client_id="bench")
    await bus.start()
    try:
        await bus.ensure_topics([spec.topic])
        started = time.perf_counter()
        await windowed([partial(bus.publish, spec, event) for event in events])
        flush_spans()  # their export is part of publishing, not of the next phase
        published = time.perf_counter() - started
        handled, first, done = 0, 0.0, asyncio.Event()

        async def handler(event: CloudEvent[Any], record: Record) -> None:
            nonlocal handled, first
            if handled == 0:
                first = time.perf_counter()
            handled += 1
            if handled == count:
                done.set()

        consumer = EventConsumer(
            bus,
            topics=[spec.topic],
            group_id=f"bench-{spec.topic}",
            handler=handler,
            catalog=catalog_with(spec),
            batch_size=BATCH,
        )
        await consumer.start()
        await asyncio.wait_for(done.wait(), 300)
        flush_spans()
        consumed = time.perf_counter() - first
        await consumer.stop()
    finally:
        await bus.stop()
    return Figures(published, consumed, count)


async def raw(platform: PlatformSettings, count: int, size: int) -> Figures:
    topic = f"bench-raw-{uuid.uuid4().hex[:8]}"
    spec = parcel_spec(topic)
    encoded = [encode(spec, event) for event in make_events(topic, count, size)]
    admin_bus = KafkaBus(platform, client_id="bench-admin")
    await admin_bus.ensure_topics([topic])  # same partitions as ours
    producer = AIOKafkaProducer(
        bootstrap_servers=platform.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=platform.kafka_enable_idempotence,
        compression_type="gzip",
        linger_ms=5,
    )
    await producer.start()
    try:
        started = time.perf_counter()
        await windowed(
            [partial(producer.send_and_wait, topic, v, key=k, headers=h) for k, v, h in encoded]
        )
        published = time.perf_counter() - started
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=platform.kafka_bootstrap_servers,
        group_id=f"bench-{topic}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        handled, first = 0, 0.0
        while handled < count:
            batches = await consumer.getmany(timeout_ms=500, max_records=BATCH)
            if batches and handled == 0:
                first = time.perf_counter()
            for tp, records in batches.items():
                handled += len(records)
                await consumer.commit({tp: records[-1].offset + 1})
        consumed = time.perf_counter() - first
    finally:
        await consumer.stop()
    return Figures(published, consumed, count)


TELEMETRY = {
    "file": "SDK on, every record traced, JsonlFileSpanProcessor -> span file (the default)",
    "sdk": "SDK on, every span recorded, no exporter (OTEL_TRACES_EXPORTER=none)",
    "off": "SDK not configured: API no-op spans, no traceparent (NOT how services run)",
}


def set_up_telemetry(mode: str, spans_dir: Path) -> Telemetry | None:
    """Ours runs traced as a service does; the raw side has no tracing by definition."""
    if mode == "off":
        return None
    os.environ["OTEL_TRACES_EXPORTER"] = "none" if mode == "sdk" else ""
    return configure_telemetry("bench-bus", PlatformSettings(spans_dir=spans_dir))


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    broker = Tansu.start()
    spans_dir = Path(tempfile.mkdtemp(prefix="bench-bus-"))
    try:
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap
        os.environ["KAFKA_ENABLE_IDEMPOTENCE"] = "false"
        platform = PlatformSettings()
        telemetry = set_up_telemetry(args.telemetry, spans_dir)
        sides = {"raw": raw, "ours": ours}
        runs: dict[str, list[Figures]] = {"raw": [], "ours": []}
        warm_up = min(args.messages, 2_000)
        for bench in sides.values():  # imports, connections, broker: not measured
            await bench(platform, warm_up, args.size)
        progress(f"warmed up with {warm_up} messages per side")
        for round_no in range(1, args.rounds + 1):
            # Alternate who goes first: the broker's memory store grows during a run.
            order = list(sides.items()) if round_no % 2 else list(sides.items())[::-1]
            for name, bench in order:
                figures = await bench(platform, args.messages, args.size)
                runs[name].append(figures)
                shown = {k: round(v) for k, v in figures.rates().items()}
                progress(f"round {round_no} {name}: {shown}")
        if telemetry is not None:
            telemetry.force_flush()
    finally:
        await broker.astop()
    spans_written = sum(1 for file in spans_dir.glob("*.jsonl") for _ in file.open())
    shutil.rmtree(spans_dir, ignore_errors=True)
    ours_median, raw_median = medians(runs["ours"]), medians(runs["raw"])

    def ratio(figure: str) -> float:
        return round(ours_median[figure] / raw_median[figure], 3)

    return {
        "benchmark": "bus publish+consume",
        "messages": args.messages,
        "payload_bytes": args.size,
        "rounds": args.rounds,
        "statistic": "median of rounds, after a warm-up round",
        "units": "messages/s",
        "telemetry": {
            "mode": args.telemetry,
            "detail": TELEMETRY[args.telemetry],
            "exporter": type(telemetry.exporter).__name__
            if telemetry and telemetry.exporter
            else None,
            "spans_expected": 2 * (warm_up + args.messages * args.rounds) if telemetry else 0,
            "spans_written": spans_written,
        },
        "partitioner": "aiokafka default (pure-Python murmur2) on both sides",
        "raw_aiokafka": raw_median,
        "ours": ours_median,
        "ratio": ratio("total_msgs_per_s"),
        "ratio_publish": ratio("publish_msgs_per_s"),
        "ratio_consume": ratio("consume_msgs_per_s"),
        "goal_ratio": 0.8,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="our bus vs raw aiokafka on one tansu broker")
    parser.add_argument("--quick", action="store_true", help="fewer messages, one round")
    parser.add_argument("--messages", type=int, default=None)
    parser.add_argument("--size", type=int, default=256, help="approximate payload bytes")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--telemetry", choices=sorted(TELEMETRY), default="file")
    args = parser.parse_args()
    args.messages = args.messages or (3_000 if args.quick else 20_000)
    args.rounds = args.rounds or (1 if args.quick else 3)
    result = asyncio.run(main_async(args))
    result["goal_met"] = result["ratio"] >= result["goal_ratio"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
