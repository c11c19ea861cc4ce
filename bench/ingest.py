"""Ingest benchmark: our collector against a bare aiohttp + uvloop GIF server, in one run.

    python bench/ingest.py [--quick] [--workers N] [--trace-all]

Setup (all on this machine, every server its own process): the embedded Kafka and FerretDB as
`make run` starts them (bench.support.real_servers); ours is `python -m services.ingest` as a
collector (INGEST_CONSUMERS empty, INGEST_WORKERS = N, production trace sampling, LOG_LEVEL
WARNING), every pixel answered only once Kafka acknowledged its event (acks=all, idempotent
producer); the baseline (bench/baselines/aiohttp_gif.py) returns the same 43-byte GIF with the
same headers from N aiohttp + uvloop processes and does nothing else.

Figures:
1. pixel hits/s at peak: wrk (closed loop, 512 connections: many browsers) against each;
   `pixel_ratio` = ours / bare (goal >= 0.7);
2. our pixel's p50/p99 at half our peak, open loop (latency from the scheduled send time, so a
   stall counts; bench/gateway.py's generator), goal p99 <= 10 ms;
3. batch events/s: wrk posting batches of 500 events with fresh client ids (a signed caller, as
   the gateway sends it); `batch_vs_pixel` = batch events/s / pixel hits/s (goal >= 10);
4. after the load, a persister (INGEST_CONSUMERS=persist) stores what was acknowledged:
   `persisted == acknowledged` (pixel and batch programs; the open-loop phase is not counted
   because its warm-up is not), none twice (`_id` = event id; redeliveries skipped are counted);
5. core data change -> in force on 2 replicas: an admin PUT on one replica, then the time until
   both replicas' followers applied that version (GET .../cache: applied_at), p50/p99, on Kafka
   and on tansu (KAFKA_FETCH_MAX_WAIT_MS=25 there: tansu answers a fetch only when the wait ends).

The machine has 2 cores shared with the load generator and the broker: figures are noisy, run it
alone. Progress on stderr; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.gateway import _generator_process, cpu_ticks, wait_http, wrk  # noqa: E402
from bench.support import (  # noqa: E402
    add_tracing_option,
    free_port,
    identity_keys,
    percentile,
    real_servers,
    stop_group,
    tracing,
)

BARE = ROOT / "bench" / "baselines" / "aiohttp_gif.py"
ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"  # noqa: S105 - bench only
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0"
PIXEL, LATENCY, BATCH = "bench-pixel", "bench-latency", "bench-batch"
BATCH_EVENTS = 500

PIXEL_LUA = """
wrk.headers["User-Agent"] = "{ua}"
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"status_errors":%d,'
    .. '"socket_errors":%d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
"""

# Each request a batch of 500 events with client ids never used before (thread id + counter).
BATCH_LUA = """
local counter = 0
local thread_id = tostring(math.random(1, 1000000000))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Surge-Identity"] = "{identity}"
wrk.headers["User-Agent"] = "{ua}"
request = function()
  counter = counter + 1
  local prefix = thread_id .. "-" .. counter .. "-"
  local parts = {{}}
  for i = 1, {events} do
    parts[i] = '{{"id":"' .. prefix .. i .. '","program":"{program}","type":"impression",'
      .. '"params":{{"slot":"top","n":' .. i .. '}}}}'
  end
  return wrk.format(nil, nil, nil, '{{"events":[' .. table.concat(parts, ",") .. ']}}')
end
""" + PIXEL_LUA.split("\n", 2)[2]


def log(message: str) -> None:
    print(f"[bench/ingest] {message}", file=sys.stderr, flush=True)


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - loopback only
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read() or b"null")


def wait_ready(port: int, timeout: float = 90.0) -> None:
    wait_http(f"http://127.0.0.1:{port}/readyz", {}, timeout)


def start(tmp: Path, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / f"{name}.stderr", "wb"),
        start_new_session=True,
    )


def ingest_env(base: dict[str, str], port: int, **extra: str) -> dict[str, str]:
    return {**base, "INGEST_PORT": str(port), "INGEST_CONSUMERS": "", **extra}


def program(port: int, pid: str) -> int:
    body = {
        "advertiser": "bench",
        "name": pid,
        "event_types": ["impression", "click", "conversion"],
        "redirect_domains": ["shop.example"],
    }
    answer = http(
        "PUT",
        f"http://127.0.0.1:{port}/ingest/admin/programs/{pid}",
        body,
        {"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    return int(answer["version"])


def ok(result: dict[str, Any]) -> int:
    return int(result["requests"] - result["status_errors"])


def peak(url: str, script: Path, seconds: float, opts: argparse.Namespace) -> dict[str, Any]:
    return wrk(url, script, seconds, opts.connections, opts.threads)


def open_loop(port: int, rate: float, seconds: float, warmup: float, group: int) -> dict[str, Any]:
    request = (
        f"GET /t/p.gif?program={LATENCY}&slot=top HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"User-Agent: {UA}\r\n\r\n"
    ).encode()
    processes = 1
    start_at = time.time() + 1.0
    args = [(port, request, rate / processes, seconds, warmup, start_at)] * processes
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        before, started = cpu_ticks(group), time.monotonic()
        results = pool.map(_generator_process, args)
        after, elapsed = cpu_ticks(group), time.monotonic() - started
    ms = sorted(value * 1000 for lat, _, _ in results for value in lat)
    tick, cpus = os.sysconf("SC_CLK_TCK"), os.cpu_count() or 1
    return {
        "rate_rps": round(rate, 1),
        "requests": len(ms),
        "failures": sum(failed for _, failed, _ in results),
        "unanswered": sum(lost for _, _, lost in results),
        "p50_ms": round(percentile(ms, 50), 3),
        "p90_ms": round(percentile(ms, 90), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "p999_ms": round(percentile(ms, 99.9), 3),
        "cpu_cores": {
            "machine": round((after[0] - before[0]) / max(1, after[1] - before[1]) * cpus, 2),
            "server": round((after[2] - before[2]) / tick / elapsed, 2),
        },
    }


async def _count(url: str, database: str, programs: Sequence[str]) -> int:
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
    try:
        return await client[database]["tracking_events"].count_documents(
            {"program": {"$in": list(programs)}}
        )
    finally:
        await client.close()


def persisted(env: dict[str, str], programs: Sequence[str]) -> int:
    return asyncio.run(_count(env["MONGODB_URL"], env["MONGODB_DATABASE"], programs))


def metric(port: int, name: str, labels: str = "") -> float:
    """The sum of a metric's series on one process (those whose labels start with `labels`)."""
    total = 0.0
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(f"{name} ") or line.startswith(f"{name}{{{labels}"):
                total += float(line.rsplit(" ", 1)[1])
    return total


def accepted(port: int, pid: str) -> int:
    """Hits the collector answered 2xx after the broker's acknowledgement (one process)."""
    labels = f'outcome="accepted",program="{pid}",type="impression"'
    return int(metric(port, "ingest_hits_total", labels))


def changes(ports: tuple[int, int], count: int) -> dict[str, Any]:
    """Admin change on the first replica -> applied by both followers: seconds, p50/p99."""
    pid = f"bench-change-{ports[0]}"
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    delays: list[float] = []
    for n in range(count):
        began = time.time()
        version = program(ports[0], pid)
        applied: list[float] = []
        deadline = time.monotonic() + 10
        for port in ports:
            while True:
                view = http(
                    "GET", f"http://127.0.0.1:{port}/ingest/admin/programs/{pid}/cache", None, admin
                )
                if (view["applied_version"] or 0) >= version:
                    applied.append(view["applied_at"])
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"change {n} not applied on :{port} within 10 s")
                time.sleep(0.005)
        delays.append(max(applied) - began)
        time.sleep(0.05)
    ms = sorted(d * 1000 for d in delays)
    return {
        "changes": count,
        "p50_ms": round(percentile(ms, 50), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "max_ms": round(ms[-1], 1),
    }


def two_replicas(tmp: Path, name: str, env: dict[str, str], count: int) -> dict[str, Any]:
    ports = (free_port(), free_port())
    procs = [
        start(tmp, f"{name}-{i}", ["-m", "services.ingest"], ingest_env(env, p))
        for i, p in enumerate(ports)
    ]
    try:
        for port in ports:
            wait_ready(port)
        changes(ports, 3)  # warm: the topic, both followers, the admin path
        return changes(ports, count)
    finally:
        for proc in procs:
            stop_group(proc)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    parser.add_argument("--workers", type=int, default=1, help="processes on each side")
    # Many browsers at once: each of ours waits for the broker's acknowledgement (a few ms), so
    # a closed loop of few connections measures that wait, not what the server can take.
    parser.add_argument("--connections", type=int, default=512, help="wrk connections (pixel)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    add_tracing_option(parser)
    opts = parser.parse_args(argv)
    seconds, warm = (4.0, 2.0) if opts.quick else (12.0, 4.0)
    fixed_seconds, fixed_warmup = (4.0, 1.0) if opts.quick else (15.0, 3.0)
    batch_seconds = 3.0 if opts.quick else 6.0
    change_count = 20 if opts.quick else 100
    if not (
        Path("/usr/bin/wrk").exists()
        or subprocess.run(["which", "wrk"], capture_output=True).returncode == 0
    ):
        if os.geteuid() != 0:
            log("missing wrk; install it with: sudo apt-get install -y wrk")
            return 2
        subprocess.run(
            ["sh", "-c", "apt-get update && apt-get install -y wrk"], check=True, stdout=sys.stderr
        )

    from shared.events.contracts.ingest import TRACKING_EVENT  # noqa: F401 - fails early if broken
    from shared.security.identity import Caller, IdentityKeys, IdentitySigner
    from shared.stack.tansu import Tansu

    keys = identity_keys()
    caller = Caller(kind="jwt", subject="bench-app")
    identity = IdentitySigner(IdentityKeys.parse(keys), "bench", ttl=3600).sign(caller, "ingest")
    tracing_env, tracing_note = tracing(opts)
    result: dict[str, Any] = {
        "bench": "ingest",
        "workers": opts.workers,
        "tracing": tracing_note,
        "load_average_at_start": round(os.getloadavg()[0], 2),
    }
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-ingest-")))
        (tmp / "pixel.lua").write_text(PIXEL_LUA.format(ua=UA))
        (tmp / "batch.lua").write_text(
            BATCH_LUA.format(identity=identity, ua=UA, events=BATCH_EVENTS, program=BATCH)
        )
        log("starting the embedded Kafka and FerretDB")
        servers = stack.enter_context(real_servers(tmp))
        env = {
            **os.environ,
            **servers,
            **tracing_env,
            "IDENTITY_KEYS": keys,
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "LOG_LEVEL": "WARNING",
            "SPANS_DIR": str(tmp / "spans"),
            "INGEST_WORKERS": str(opts.workers),
        }

        # 1. peak pixel: bare, then ours
        bare_port = free_port()
        bare = start(
            tmp, "bare", [str(BARE), f"--port={bare_port}", f"--workers={opts.workers}"], env
        )
        stack.callback(stop_group, bare)
        wait_http(f"http://127.0.0.1:{bare_port}/t/p.gif", {})
        url = f"http://127.0.0.1:{bare_port}/t/p.gif?program={PIXEL}&slot=top"
        log(f"bare aiohttp GIF server: warm-up {warm:.0f} s, peak {seconds:.0f} s")
        peak(url, tmp / "pixel.lua", warm, opts)
        bare_peak = peak(url, tmp / "pixel.lua", seconds, opts)
        stop_group(bare)

        port = free_port()
        ours = start(tmp, "ingest", ["-m", "services.ingest"], ingest_env(env, port))
        stack.callback(stop_group, ours)
        wait_ready(port)
        for pid in (PIXEL, LATENCY, BATCH):
            program(port, pid)
        url = f"http://127.0.0.1:{port}/t/p.gif?program={PIXEL}&slot=top"
        log(f"ours: warm-up {warm:.0f} s, peak {seconds:.0f} s")
        ours_warm = peak(url, tmp / "pixel.lua", warm, opts)
        ours_peak = peak(url, tmp / "pixel.lua", seconds, opts)
        acknowledged = ok(ours_warm) + ok(ours_peak)
        pixel_ratio = ours_peak["rps"] / bare_peak["rps"]
        ours_rps, bare_rps = ours_peak["rps"], bare_peak["rps"]
        log(f"pixel: ours {ours_rps:.0f}/s, bare {bare_rps:.0f}/s, ratio {pixel_ratio:.2f}")

        # 2. latency at half our peak, open loop
        rate = ours_peak["rps"] / 2
        log(f"ours at {rate:.0f} hits/s (half our peak), open loop, {fixed_seconds:.0f} s")
        latency = open_loop(port, rate, fixed_seconds, fixed_warmup, ours.pid)

        # 3. batch events/s
        log(f"batch: {BATCH_EVENTS} events per request, {batch_seconds:.0f} s")
        batch_run = wrk(
            f"http://127.0.0.1:{port}/t/events", tmp / "batch.lua", batch_seconds, 16, opts.threads
        )
        batch_eps = ok(batch_run) * BATCH_EVENTS / (batch_run["duration_us"] / 1e6)
        acknowledged += ok(batch_run) * BATCH_EVENTS
        # The server's own count, exact with one worker (a scrape reaches one process), once
        # the requests wrk left in flight when it stopped are answered too.
        counted, previous_count = -1, -2
        while counted != previous_count:
            time.sleep(1)
            previous_count, counted = counted, accepted(port, PIXEL) + accepted(port, BATCH)
        stop_group(ours)

        # 4. persisted == acknowledged
        persist_port = free_port()
        persister = start(
            tmp,
            "persister",
            ["-m", "services.ingest"],
            ingest_env(env, persist_port, INGEST_CONSUMERS="persist", INGEST_WORKERS="1"),
        )
        stack.callback(stop_group, persister)
        wait_ready(persist_port)
        log(f"persisting {counted} acknowledged events ({acknowledged} answers seen by wrk)")
        began, stored, last_change, previous = time.monotonic(), 0, time.monotonic(), -1
        while time.monotonic() - last_change < 15:
            stored = persisted(env, (PIXEL, BATCH))
            if stored != previous:
                previous, last_change = stored, time.monotonic()
            if stored >= max(acknowledged, counted) and metric(persist_port, "consumer_lag") == 0:
                break
            time.sleep(1)
        persist_seconds = time.monotonic() - began
        duplicates = metric(persist_port, "ingest_persist_duplicates_total")
        stop_group(persister)

        # 5. core data change on 2 replicas: Kafka, then tansu
        log(f"program changes -> in force on 2 replicas: {change_count} on Kafka")
        on_kafka = two_replicas(tmp, "kafka-replica", env, change_count)
        broker = Tansu.start(log=tmp / "tansu.log")
        stack.callback(broker.stop)
        tansu_env = {
            **env,
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "KAFKA_ENABLE_IDEMPOTENCE": "false",
            "KAFKA_FETCH_MAX_WAIT_MS": "25",
            "MONGODB_DATABASE": "bench_tansu",
        }
        log(f"... and {change_count} on tansu")
        on_tansu = two_replicas(tmp, "tansu-replica", tansu_env, change_count)

    result.update(
        {
            "pixel_hits_per_second": {
                "ours": round(ours_peak["rps"]),
                "aiohttp_bare": round(bare_peak["rps"]),
            },
            "pixel_ratio": round(pixel_ratio, 3),
            "pixel_goal": ">= 0.7, every hit acknowledged by Kafka (acks=all)",
            "pixel_errors": {
                "ours_status": ours_peak["status_errors"],
                "ours_socket": ours_peak["socket_errors"],
                "bare_status": bare_peak["status_errors"],
            },
            "pixel_at_half_peak": latency,
            "batch_events_per_second": round(batch_eps),
            "batch_vs_pixel": round(batch_eps / ours_peak["rps"], 1),
            "batch_errors": {
                "status": batch_run["status_errors"],
                "socket": batch_run["socket_errors"],
            },
            "persistence": {
                "acknowledged_seen_by_clients": acknowledged,
                "acknowledged_by_server": counted if opts.workers == 1 else None,
                "persisted": stored,
                "equal": stored == (counted if opts.workers == 1 else acknowledged),
                "redelivered_skipped": int(duplicates),
                "seconds": round(persist_seconds, 1),
            },
            "change_in_force_on_2_replicas": {"kafka": on_kafka, "tansu": on_tansu},
            "change_goal": "p99 <= 500 ms",
            "load_average_at_end": round(os.getloadavg()[0], 2),
        }
    )
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
