"""Store benchmark: the project's store layer against raw PyMongo on one FerretDB, in one run.

    python bench/store.py [--quick] [--ops N] [--rounds R]

A FerretDB (the embedded one `make run` uses, SQLite) is started here in a temporary directory.
Each side runs in its own process, so instrumentation set up for one cannot touch the other:
- raw: a plain `AsyncMongoClient`, no telemetry;
- ours: `shared.store.connect` and telemetry configured as a service configures it (PyMongo
  instrumented, production sampling, span file), bulk inserts through
  `shared.storeops.insert_many_new` (duplicates skipped), reads, updates and inserts through
  the store's collections.
Operations: inserts (one document each), reads by `_id`, updates by `_id` (`$set`), bulk inserts
(100 documents a call), each with 16 in flight, timed per phase; the sides alternate who goes
first; one warm-up round, then the median of the rounds. Then, printed with no goal, a read by a
secondary indexed field at 10k and 100k documents (FerretDB scans: only `_id` is a fast path).
Progress on stderr; one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.support import PRODUCTION_SAMPLING  # noqa: E402 - after the root
from shared.stack import ferretdb  # noqa: E402

IN_FLIGHT = 16
BULK = 100
PHASES = ("insert", "read", "update", "bulk_insert")
GOAL = 0.8


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def windowed(calls: list[Callable[[], Awaitable[Any]]]) -> float:
    """Run the calls IN_FLIGHT at a time; seconds taken."""
    pending = iter(calls)

    async def worker() -> None:
        for call in pending:
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return time.perf_counter() - started


async def side(kind: str, url: str, ops: int) -> dict[str, float]:
    """One side's ops/s per phase, in a database of its own."""
    from pymongo import AsyncMongoClient

    from shared.storeops import insert_many_new

    database = f"bench_{kind}_{uuid.uuid4().hex[:6]}"
    if kind == "ours":
        from shared.settings import PlatformSettings
        from shared.store import connect
        from shared.telemetry import configure_telemetry

        telemetry = configure_telemetry("bench-store", PlatformSettings())
        store = connect(url, database, service="bench")
        client, collection = store.client, store.db["things"]

        async def bulk(docs: list[dict[str, Any]]) -> None:
            await insert_many_new(collection, docs)
    else:
        telemetry = None
        client = AsyncMongoClient(url, tz_aware=True)
        collection = client[database]["things"]

        async def bulk(docs: list[dict[str, Any]]) -> None:
            await collection.insert_many(docs, ordered=False)

    def doc(n: int) -> dict[str, Any]:
        return {"_id": f"d{n}", "n": n, "name": f"name-{n}", "tags": ["a", "b"], "score": n * 0.5}

    async def insert(n: int) -> None:
        await collection.insert_one(doc(n))

    async def read(n: int) -> None:
        await collection.find_one({"_id": f"d{n}"})

    async def update(n: int) -> None:
        await collection.update_one({"_id": f"d{n}"}, {"$set": {"score": n}})

    async def insert_batch(b: int) -> None:
        await bulk([doc(ops + b * BULK + i) for i in range(BULK)])

    batches = max(1, ops // BULK)
    rates = {
        "insert": ops / await windowed([partial(insert, n) for n in range(ops)]),
        "read": ops / await windowed([partial(read, n) for n in range(ops)]),
        "update": ops / await windowed([partial(update, n) for n in range(ops)]),
        "bulk_insert": batches
        * BULK
        / await windowed([partial(insert_batch, b) for b in range(batches)]),
    }
    await client.drop_database(database)
    await client.close()
    if telemetry is not None:
        telemetry.shutdown()
    return rates


async def secondary_reads(url: str, size: int, reads: int) -> float:
    """Milliseconds per read by an indexed non-`_id` field in a collection of `size` documents."""
    from pymongo import AsyncMongoClient, IndexModel

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
    collection = client[f"bench_secondary_{size}"]["things"]
    await collection.create_indexes([IndexModel([("email", 1)], unique=True)])
    for start in range(0, size, 1000):
        chunk = [{"_id": n, "email": f"u{n}@example.com"} for n in range(start, start + 1000)]
        await collection.insert_many(chunk, ordered=False)
    started = time.perf_counter()
    for n in range(reads):
        await collection.find_one({"email": f"u{(n * 7919) % size}@example.com"})
    per_read = (time.perf_counter() - started) / reads * 1000
    await client.drop_database(f"bench_secondary_{size}")
    await client.close()
    return per_read


def run_side(kind: str, url: str, ops: int, spans: Path) -> dict[str, float]:
    env = {**os.environ, "SPANS_DIR": str(spans), "LOG_LEVEL": "WARNING"}
    if kind == "ours":
        env.update(PRODUCTION_SAMPLING)
    done = subprocess.run(
        [sys.executable, __file__, "--side", kind, "--url", url, "--ops", str(ops)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{kind} side failed:\n{done.stderr[-3000:]}")
    rates: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description="our store layer vs raw PyMongo on FerretDB")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--ops", type=int)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--side", choices=["ours", "raw"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    ops = opts.ops or (1000 if opts.quick else 4000)
    if opts.side:
        print(json.dumps(asyncio.run(side(opts.side, opts.url, ops))))
        return
    rounds = opts.rounds or (3 if opts.quick else 5)
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        server = ferretdb.FerretDB.start(ferretdb.ensure_binary(), data_dir=Path(tmp, "data"))
        try:
            results: dict[str, list[dict[str, float]]] = {"ours": [], "raw": []}
            for n in range(rounds + 1):
                order = ("ours", "raw") if n % 2 == 0 else ("raw", "ours")
                for kind in order:
                    rates = run_side(kind, server.url, ops, Path(tmp, f"spans-{n}"))
                    if n > 0:  # round 0 warms up the server's SQLite files and caches
                        results[kind].append(rates)
                    shown = ", ".join(f"{phase} {rates[phase]:,.0f}/s" for phase in PHASES)
                    log(f"round {n}{' (warm-up)' if n == 0 else ''} {kind}: {shown}")
            sizes = (10_000,) if opts.quick else (10_000, 100_000)
            secondary: dict[str, float] = {}
            for size in sizes:
                log(f"secondary-field reads at {size:,} documents ...")
                secondary[str(size)] = asyncio.run(secondary_reads(server.url, size, 50))
        finally:
            server.stop()
    summary: dict[str, Any] = {"benchmark": "store", "server": f"FerretDB {ferretdb.VERSION}"}
    for phase in PHASES:
        ours = statistics.median(r[phase] for r in results["ours"])
        raw = statistics.median(r[phase] for r in results["raw"])
        summary[phase] = {
            "ours_per_s": round(ours),
            "raw_per_s": round(raw),
            "ratio": round(ours / raw, 3),
            "goal": GOAL,
            "met": ours / raw >= GOAL,
        }
        log(f"{phase:12} ours {ours:9,.0f}/s  raw {raw:9,.0f}/s  ratio {ours / raw:.2f}")
    summary["secondary_read_ms"] = {docs: round(ms, 2) for docs, ms in secondary.items()}
    for docs, ms in secondary.items():
        log(f"read by a secondary indexed field at {int(docs):,} documents: {ms:.1f} ms")
    summary.update(
        ops_per_phase=ops,
        rounds=rounds,
        in_flight=IN_FLIGHT,
        note="ours: PyMongo instrumented with production sampling, bulk via insert_many_new",
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
