"""`redrive --topic T.dlq`: move dead letters back to the topic they came from.

Each dead letter is re-published with its original value, key, `ce_*` headers and trace
(the `dlq_*` headers dropped), then its offset is committed before the next one, so an
interrupted redrive resumes where it stopped and never moves a letter twice on its own.
Run it after fixing whatever made the handler fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.bus.base import Bus, Record
from shared.consumer.deadletter import DLQ_SUFFIX, original_headers
from shared.settings import PlatformSettings
from shared.telemetry.kafka import consumer_span


@dataclass
class RedriveSummary:
    topic: str
    moved: Counter[str] = field(default_factory=Counter)
    dry_run: bool = False

    @property
    def total(self) -> int:
        return sum(self.moved.values())


def original_topic(record: Record) -> str:
    raw = record.header("dlq_original_topic")
    if raw is not None:
        return raw.decode("utf-8")
    return record.topic.removesuffix(DLQ_SUFFIX)


async def redrive(
    bus: Bus,
    topic: str,
    *,
    group: str = "redrive",
    limit: int | None = None,
    dry_run: bool = False,
    idle_seconds: float = 30.0,
) -> RedriveSummary:
    """Move up to `limit` dead letters from `topic`; stop when caught up or idle that long."""
    summary = RedriveSummary(topic=topic, dry_run=dry_run)
    source = bus.source([topic], group)
    await source.start()
    loop = asyncio.get_running_loop()
    idle_until = loop.time() + idle_seconds
    try:
        while (limit is None or summary.total < limit) and loop.time() < idle_until:
            wanted = 100 if limit is None else min(100, limit - summary.total)
            records = await source.fetch(500, wanted)
            if not records:
                assigned, lag = set(source.assignment()), source.lag()
                if assigned and assigned <= set(lag) and not any(lag.values()):
                    break  # caught up with every assigned partition
                continue
            idle_until = loop.time() + idle_seconds
            for record in records:
                target = original_topic(record)
                if not dry_run:
                    with consumer_span(record, group, None):
                        await bus.publish_raw(
                            target,
                            record.value,
                            key=record.key,
                            headers=original_headers(record.headers),
                        )
                    await source.commit({(record.topic, record.partition): record.offset + 1})
                summary.moved[target] += 1
    finally:
        await source.stop()
    return summary


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="redrive", description=__doc__.splitlines()[0])
    parser.add_argument("--topic", required=True, help="dead-letter topic, e.g. orders.dlq")
    parser.add_argument("--group", default="redrive", help="consumer group (default: redrive)")
    parser.add_argument("--limit", type=int, default=None, help="move at most N dead letters")
    parser.add_argument("--dry-run", action="store_true", help="only count, move nothing")
    parser.add_argument("--idle-seconds", type=float, default=30.0, help="give up when idle")
    return parser


async def _main(args: argparse.Namespace) -> RedriveSummary:
    from shared.bus.kafka import KafkaBus

    bus = KafkaBus(PlatformSettings(), client_id="redrive")
    await bus.start()
    try:
        return await redrive(
            bus,
            args.topic,
            group=args.group,
            limit=args.limit,
            dry_run=args.dry_run,
            idle_seconds=args.idle_seconds,
        )
    finally:
        await bus.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.topic.endswith(DLQ_SUFFIX):
        print(
            f"redrive: {args.topic!r} is not a dead-letter topic (*{DLQ_SUFFIX})", file=sys.stderr
        )
        return 2
    summary = asyncio.run(_main(args))
    verb = "would move" if summary.dry_run else "moved"
    for target, count in sorted(summary.moved.items()):
        print(f"{verb} {count} dead letter(s) from {summary.topic} to {target}", file=sys.stderr)
    print(json.dumps({"topic": summary.topic, "dry_run": summary.dry_run, "moved": summary.moved}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
