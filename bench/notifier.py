"""Notifier benchmark: idle connections and fan-out, ours against a bare `websockets` server.

    python bench/notifier.py [--quick]

Every server and every load client runs in its own process (this script re-executes itself
with --role). Servers:
- ours: the notifier app (HTTP API + WebSocket server, one process) on an in-memory bus, so the
  figures are the WebSocket stack's, not Kafka's; a publication takes the real path: POST
  /notifier/publish -> bus -> `notifier` ingest consumer (idempotency guard) -> publication ->
  fan-out reader -> history -> every subscriber, with JWT auth, channels and send-queue checks;
- bare: `websockets` asyncio server whose handler subscribes every socket and calls
  `websockets.asyncio.server.broadcast` for each message from a control socket: the limit of
  this stack.

Measures:
1. idle connections held by one server process, up to 20,000 (--quick: 2,000), RLIMIT_NOFILE
   raised to its hard limit; memory per connection = RSS delta / connections (goal: 20,000 in
   1 GiB);
2. fan-out: N subscribers (10,000; --quick 1,000) on one channel, K publications sent back to
   back; deliveries/s = N*K / (last receive - first publish) and p99 publish->receive latency
   (timestamps in the payload, one machine, one clock), for both; ratio ours/bare (goal 0.7).

Progress on stderr; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.support import free_port, identity_keys, signed_identity  # noqa: E402 - after the root

SECRET = "bench-secret-long-enough-for-hs256-000000000"  # noqa: S105 - bench only
SERVICE_TOKEN = "bench-service-token"  # noqa: S105 - bench only
PROCS = 4


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def raise_nofile() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# --- server roles -------------------------------------------------------------------------


async def serve_ours(http_port: int, ws_port: int) -> None:
    from aiohttp import web
    from pydantic import SecretStr

    from services.notifier.app import init_app
    from services.notifier.settings import NotifierSettings
    from shared.bus.memory import MemoryBus
    from shared.settings import PlatformSettings

    bus = MemoryBus()
    platform = PlatformSettings(auth_jwt_secret=SecretStr(SECRET))
    settings = NotifierSettings(
        port=http_port,
        ws_port=ws_port,
        service_token=SecretStr(SERVICE_TOKEN),
        max_connections_per_ip=100_000,
        max_connections=100_000,
        idle_timeout_seconds=3600,
        send_queue_bytes=8 * 1024 * 1024,
        platform=platform,
    )
    app = await init_app(settings, bus=lambda _p, _s: bus)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", http_port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


async def serve_bare(ws_port: int) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    members: set[ServerConnection] = set()

    async def handler(conn: ServerConnection) -> None:
        async for message in conn:
            if message == "sub":
                members.add(conn)
                await conn.send('{"type":"subscribed"}')
            elif isinstance(message, str) and message.startswith("pub:"):
                broadcast(members, message[4:])
        members.discard(conn)

    async with serve(handler, "127.0.0.1", ws_port, compression=None, backlog=4096):
        print("ready", flush=True)
        await asyncio.Event().wait()


# --- load client role ---------------------------------------------------------------------


async def clients(kind: str, url: str, count: int, first: int, expect: int) -> None:
    from websockets.asyncio.client import ClientConnection, connect

    from shared.security import issue_hs256

    gate = asyncio.Semaphore(100)
    latencies: list[float] = []
    done = asyncio.Event()
    finished = 0

    async def one(index: int) -> ClientConnection:
        async with gate:
            if kind == "ours":
                token = issue_hs256({"sub": f"u{index}"}, SECRET, 3600)
                ws = await connect(
                    url,
                    additional_headers=signed_identity("notifier"),  # as the gateway's /ws
                    subprotocols=["surge.v1", f"bearer.{token}"],  # type: ignore[list-item]
                    compression=None,
                    open_timeout=60,
                    ping_interval=None,
                )
                await ws.recv()  # welcome
                await ws.recv()  # subscribed user:<sub>
                if expect:
                    await ws.send('{"type":"subscribe","channel":"broadcast"}')
                    await ws.recv()
            else:
                ws = await connect(url, compression=None, open_timeout=60, ping_interval=None)
                if expect:
                    await ws.send("sub")
                    await ws.recv()
            return ws

    async def listen(ws: ClientConnection) -> None:
        nonlocal finished
        got = 0
        while got < expect:
            raw = await ws.recv()
            message = json.loads(raw)
            if "t" in message.get("data", message):
                latencies.append(time.time() - message.get("data", message)["t"])
                got += 1
        finished += 1
        if finished == count:
            done.set()

    sockets = await asyncio.gather(*(one(first + i) for i in range(count)))
    print("ready", flush=True)
    if expect:
        listeners = [asyncio.create_task(listen(ws)) for ws in sockets]
        await done.wait()
        print(json.dumps({"latencies": latencies, "last": time.time()}), flush=True)
        await asyncio.gather(*listeners)
    else:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


# --- controller ---------------------------------------------------------------------------


def spawn(*args: str) -> subprocess.Popen[str]:
    identity_keys()  # set before the first role starts: every role of the run shares the keys
    return subprocess.Popen(
        [sys.executable, __file__, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def wait_line(proc: subprocess.Popen[str], want: str = "ready") -> str:
    assert proc.stdout is not None
    while line := proc.stdout.readline():
        if line.startswith(want):
            return line
    raise RuntimeError(f"process {proc.args!r} exited before {want!r}")


def start_server(kind: str) -> tuple[subprocess.Popen[str], str, str]:
    http_port, ws_port = free_port(), free_port()
    if kind == "ours":
        server = spawn("--role", "ours", "--http-port", str(http_port), "--ws-port", str(ws_port))
    else:
        server = spawn("--role", "bare", "--ws-port", str(ws_port))
    wait_line(server)
    return server, f"http://127.0.0.1:{http_port}", f"ws://127.0.0.1:{ws_port}/ws"


def start_clients(kind: str, url: str, total: int, expect: int) -> list[subprocess.Popen[str]]:
    share = -(-total // PROCS)
    procs = []
    for index in range(PROCS):
        count = min(share, total - index * share)
        if count > 0:
            args = ["--role", "clients", "--kind", kind, "--url", url, "--count", str(count)]
            args += ["--first", str(index * share), "--expect", str(expect)]
            procs.append(spawn(*args))
    for proc in procs:
        wait_line(proc)
    return procs


def stop(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=30)


def idle(target: int) -> dict[str, Any]:
    server, _, ws_url = start_server("ours")
    try:
        before = rss_kib(server.pid)
        started = time.monotonic()
        held = target
        try:
            procs = start_clients("ours", ws_url, target, 0)
        except RuntimeError:
            held = -1
            procs = []
        seconds = time.monotonic() - started
        after = rss_kib(server.pid)
        stop(procs)
    finally:
        stop([server])
    per = (after - before) / held if held > 0 else 0.0
    log(f"idle: {held} connections in {seconds:.1f}s, {per:.1f} KiB each")
    return {
        "connections": held,
        "connect_seconds": round(seconds, 1),
        "server_rss_mib": round(after / 1024, 1),
        "kib_per_connection": round(per, 1),
        "projected_mib_for_20000": round(per * 20000 / 1024, 1),
    }


def fanout(kind: str, subscribers: int, messages: int) -> dict[str, Any]:
    import urllib.request

    from websockets.sync.client import connect

    server, http_url, ws_url = start_server(kind)
    procs = start_clients(kind, ws_url, subscribers, messages)
    stack = contextlib.ExitStack()
    control = stack.enter_context(connect(ws_url, compression=None)) if kind == "bare" else None
    try:
        first = time.time()
        for index in range(messages):
            data = {"t": time.time(), "i": index, "pad": "x" * 100}
            if control is not None:
                control.send("pub:" + json.dumps(data))
                continue
            body = json.dumps({"channel": "broadcast", "event": "bench", "data": data}).encode()
            request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only
                f"{http_url}/notifier/publish",
                data=body,
                headers={"Authorization": f"Bearer {SERVICE_TOKEN}", **signed_identity("notifier")},
                method="POST",
            )
            urllib.request.urlopen(request, timeout=30).close()  # noqa: S310 - local
        results = [json.loads(wait_line(proc, "{")) for proc in procs]
    finally:
        stack.close()
        stop([*procs, server])
    latencies = sorted(x for r in results for x in r["latencies"])
    elapsed = max(r["last"] for r in results) - first
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    rate = len(latencies) / elapsed
    log(f"fan-out {kind}: {rate:,.0f} deliveries/s, p99 {p99:.1f} ms")
    return {"deliveries_per_s": round(rate), "p99_ms": round(p99, 1), "deliveries": len(latencies)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--role", choices=["ours", "bare", "clients"])
    parser.add_argument("--kind", default="ours")
    parser.add_argument("--url", default="")
    parser.add_argument("--http-port", type=int, default=0)
    parser.add_argument("--ws-port", type=int, default=0)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--expect", type=int, default=0)
    args = parser.parse_args()
    hard = raise_nofile()
    if args.role == "ours":
        asyncio.run(serve_ours(args.http_port, args.ws_port))
    elif args.role == "bare":
        asyncio.run(serve_bare(args.ws_port))
    elif args.role == "clients":
        asyncio.run(clients(args.kind, args.url, args.count, args.first, args.expect))
    if args.role:
        return 0
    import logging

    logging.disable(logging.WARNING)
    # The server needs a descriptor per socket plus its own few dozen.
    target = min(2_000 if args.quick else 20_000, hard - 100)
    subscribers = 1_000 if args.quick else 10_000
    messages = 10
    log(f"RLIMIT_NOFILE {hard}; idle target {target}; fan-out {subscribers} x {messages}")
    result: dict[str, Any] = {"bench": "notifier", "quick": args.quick, "idle": idle(target)}
    ours = fanout("ours", subscribers, messages)
    bare = fanout("bare", subscribers, messages)
    ratio = ours["deliveries_per_s"] / bare["deliveries_per_s"]
    result["fanout"] = {"subscribers": subscribers, "messages": messages, "ours": ours}
    result["fanout"].update({"bare_websockets": bare, "ratio": round(ratio, 2)})
    result["goals"] = {
        "idle_20000_within_1GiB": result["idle"]["projected_mib_for_20000"] <= 1024,
        "fanout_ratio_at_least_0.7": ratio >= 0.7,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
