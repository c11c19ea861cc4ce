"""Gateway benchmark: our gateway against nginx as a plain reverse proxy, same upstream, one run.

    python bench/gateway.py [--quick]

Setup (all on this machine, every server in its own processes):
- upstream: nginx serving a static 200 (`return 200`, ~100 bytes) on its own port; the least
  noisy upstream there is, shared by both proxies;
- nginx: a plain reverse proxy (`proxy_pass`, upstream keepalive, HTTP/1.1), `worker_processes`
  = WORKERS, `access_log off`;
- ours: `python -m services.gateway` with GATEWAY_WORKERS = WORKERS (SO_REUSEPORT), a JWT route
  (HS256; a verified token is remembered for up to 30 s, as in production), a route and a
  global token bucket high enough never to throttle (but taken on every request, RateLimit
  headers included), the WAF on with its default rules (the per-IP rate-based rule raised so
  the bench address is never blocked), tracing to a span file sampled as in production
  (OTEL_TRACES_SAMPLER=surge_xray 1,0.05 as deploy/k8s sets it; `--trace-all` records every
  trace), metrics, and LOG_LEVEL=WARNING
  so the access log (INFO) is not written, as nginx has `access_log off`. Kafka: a tansu
  broker started here;
- aiohttp_bare (bench/baselines/aiohttp_proxy.py): the ceiling of our stack, what the gateway
  is built from minus everything it adds: aiohttp + uvloop, WORKERS processes (SO_REUSEPORT),
  one pooled ClientSession to the same upstream, path+query and Authorization forwarded,
  status, content type and body returned. No middleware, tracing, metrics, auth or limits.

Measures:
1. peak throughput: wrk (closed loop, C connections, T threads) against each of nginx, ours and
   aiohttp_bare; same request, the Authorization header added by a wrk Lua script for all (the
   proxies just forward it). Ratios: ours / nginx (`throughput_ratio`, the goal), aiohttp_bare /
   nginx (`ceiling_ratio_aiohttp_vs_nginx`: what any aiohttp gateway can reach here) and ours /
   aiohttp_bare (`ours_vs_aiohttp_bare`: what our features cost);
2. latency at a fixed rate of half OUR peak: an open-loop generator in P processes (each with
   its own event loop and keep-alive connections, a raw HTTP/1.1 client so the generator
   costs little CPU), requests sent at fixed intervals and latency taken from the *scheduled*
   send time, so a stall counts against the server (no coordinated omission). p50/p99/p99.9
   for both, and the p99 we add over nginx. Each phase also reports the CPU cores in use over
   its run (`cpu_cores`): the whole machine's and the server's own (its process group). The
   machine has 2 cores; when its load is well above the server's plus about 0.3 (generator
   and upstream), other work was running and the tail is not the server's alone.

For iterating on latency, `--only fixed` measures only our peak (to pick the rate) and then the
fixed-rate phase for nginx and ours, and prints a shorter JSON line without the peak ratios.
`--rate R` fixes the rate instead of half our peak (with `--only fixed` our peak phase is then
skipped; its warm-up still runs, so every worker is serving).

nginx and wrk come from Debian (`apt-get install -y nginx-light wrk`); the script installs them
when run as root. Progress goes to stderr; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
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
from bench.support import (  # noqa: E402 - after the root
    add_tracing_option,
    free_port,
    identity_keys,
    percentile,
    stop_group,
    tracing,
)

WORKERS = 2
JWT_SECRET = "bench-secret-that-is-long-enough-for-hs256-0000"  # noqa: S105 - bench only
PATH = "/api/items/42?view=full"
MAX_CONNECTIONS = 128  # per fixed-rate generator process
BARE_PROXY = ROOT / "bench" / "baselines" / "aiohttp_proxy.py"
LLHTTP_PROXY = ROOT / "bench" / "baselines" / "llhttp_proxy.py"
UPSTREAM_BODY = '{"id":42,"name":"widget","price":9.99,"tags":["a","b"],"stock":true}'


def log(message: str) -> None:
    print(f"[bench/gateway] {message}", file=sys.stderr, flush=True)


# --- tools ------------------------------------------------------------------------------------


def ensure_tools() -> None:
    missing = [tool for tool in ("nginx", "wrk") if _which(tool) is None]
    if not missing:
        return
    command = "apt-get update && apt-get install -y nginx-light wrk"
    if os.geteuid() != 0:
        log(f"missing {', '.join(missing)}; install them with: sudo sh -c '{command}'")
        sys.exit(2)
    log(f"installing {', '.join(missing)}: {command}")
    subprocess.run(["sh", "-c", command], check=True, stdout=sys.stderr)
    if any(_which(tool) is None for tool in ("nginx", "wrk")):
        log("installation did not provide nginx and wrk")
        sys.exit(2)


def _which(tool: str) -> str | None:
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin")


def wait_http(url: str, headers: dict[str, str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(url, headers=headers)  # noqa: S310
            with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer 200 within {timeout} s (last: {last})")


# --- servers ----------------------------------------------------------------------------------

NGINX_COMMON = """
daemon off;
pid {tmp}/{name}.pid;
error_log {tmp}/{name}.error.log warn;
events {{ worker_connections 4096; }}
"""

UPSTREAM_CONF = (
    NGINX_COMMON
    + """
worker_processes {workers};
http {{
    access_log off;
    client_body_temp_path {tmp}/{name}-body;
    proxy_temp_path {tmp}/{name}-proxy;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port} reuseport;
        location / {{
            default_type application/json;
            return 200 '{body}';
        }}
    }}
}}
"""
)

PROXY_CONF = (
    NGINX_COMMON
    + """
worker_processes {workers};
http {{
    access_log off;
    client_body_temp_path {tmp}/{name}-body;
    proxy_temp_path {tmp}/{name}-proxy;
    keepalive_requests 1000000;
    upstream backend {{
        server 127.0.0.1:{upstream};
        keepalive 256;
    }}
    server {{
        listen 127.0.0.1:{port} reuseport;
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""
)

ROUTES = """
global_rate_limit: {{rate: 10000000, burst: 10000000}}
upstreams:
  items: {{url: "http://127.0.0.1:{upstream}", max_connections: 512}}
routes:
  - id: items
    prefix: /api/items
    upstream: items
    auth: jwt
    scopes: [items.read]
    rate_limit: {{rate: 10000000, burst: 10000000}}
"""


def start_nginx(tmp: Path, name: str, template: str, **values: Any) -> subprocess.Popen[bytes]:
    conf = tmp / f"{name}.conf"
    conf.write_text(template.format(tmp=tmp, name=name, workers=WORKERS, **values))
    nginx = _which("nginx")
    assert nginx is not None
    return subprocess.Popen(
        [nginx, "-p", str(tmp), "-c", str(conf), "-e", str(tmp / f"{name}.error.log")],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / f"{name}.stderr", "wb"),
        start_new_session=True,
    )


def start_gateway(
    tmp: Path, port: int, upstream: int, bootstrap: str, mongodb: str, extra_env: dict[str, str]
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "GATEWAY_PORT": str(port),
        "GATEWAY_ADMIN_PORT": str(free_port()),
        "GATEWAY_WORKERS": str(WORKERS),
        "GATEWAY_ROUTES_YAML": ROUTES.format(upstream=upstream),
        # The rate-based rule stays on the path; its limit is raised so the bench's one client
        # address (127.0.0.1) is never blocked.
        "GATEWAY_WAF_RATE_LIMIT": "1000000000",
        "AUTH_JWT_SECRET": JWT_SECRET,
        "IDENTITY_KEYS": identity_keys(),
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA_ENABLE_IDEMPOTENCE": "false",
        "LOG_LEVEL": "WARNING",
        "SPANS_DIR": str(tmp / "spans"),
        **extra_env,
    }
    # FerretDB as under `make run`; JWT routes never read the store on the request path.
    env["MONGODB_URL"] = mongodb
    return subprocess.Popen(
        [sys.executable, "-m", "services.gateway"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "gateway.stderr", "wb"),
        start_new_session=True,
    )


# --- peak throughput: wrk ---------------------------------------------------------------------

WRK_LUA = """
wrk.headers["Authorization"] = "Bearer {token}"
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"status_errors":%d,'
    .. '"socket_errors":%d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
"""


def wrk(url: str, script: Path, seconds: float, connections: int, threads: int) -> dict[str, Any]:
    wrk_bin = _which("wrk")
    assert wrk_bin is not None
    out = subprocess.run(
        [
            wrk_bin,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "5s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


# --- fixed rate: open-loop generator ----------------------------------------------------------


class _Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time (no pipelining)."""

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.transport: Any = None
        self.buffer = bytearray()
        self.scheduled = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's transports are not asyncio.Transport subclasses

    def send(self, scheduled: float) -> None:
        self.scheduled = scheduled
        self.transport.write(self.pool.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        if b"transfer-encoding: chunked" in head:
            if not self.buffer.endswith(b"0\r\n\r\n"):
                return
        else:
            start = head.find(b"content-length:")
            length = int(head[start + 15 : head.find(b"\r\n", start)]) if start >= 0 else 0
            if len(self.buffer) < end + 4 + length:
                return
        ok = head.startswith(b"http/1.1 200")
        self.buffer.clear()
        self.pool.completed(self, ok)

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.lost(self)


class _Pool:
    def __init__(self, host: str, port: int, request: bytes) -> None:
        self.host, self.port, self.request = host, port, request
        self.idle: list[_Conn] = []
        self.backlog: list[float] = []
        self.latencies: list[float] = []
        self.failures = 0
        self.record_after = 0.0
        self.opening = 0
        self.connections = 0
        self.loop = asyncio.get_running_loop()

    def submit(self, scheduled: float) -> None:
        if self.idle:
            self.idle.pop().send(scheduled)
            return
        self.backlog.append(scheduled)
        # Open loop: a new connection rather than wait, up to MAX_CONNECTIONS; beyond that the
        # request waits here, and its latency still counts from its scheduled time.
        if self.opening < len(self.backlog) and self.connections < MAX_CONNECTIONS:
            self.opening += 1
            self.connections += 1
            self.loop.create_task(self._open())

    async def _open(self) -> None:
        try:
            _, conn = await self.loop.create_connection(lambda: _Conn(self), self.host, self.port)
        finally:
            self.opening -= 1
        self._ready(conn)

    def _ready(self, conn: _Conn) -> None:
        if self.backlog:
            conn.send(self.backlog.pop(0))
        else:
            self.idle.append(conn)

    def completed(self, conn: _Conn, ok: bool) -> None:
        if conn.scheduled >= self.record_after:
            if ok:
                self.latencies.append(time.perf_counter() - conn.scheduled)
            else:
                self.failures += 1
        self._ready(conn)

    def lost(self, conn: _Conn) -> None:
        self.connections -= 1
        if conn in self.idle:
            self.idle.remove(conn)


async def _fixed_rate(
    port: int, request: bytes, rate: float, seconds: float, warmup: float, start_at: float
) -> tuple[list[float], int, int]:
    pool = _Pool("127.0.0.1", port, request)
    interval = 1.0 / rate
    await asyncio.sleep(max(0.0, start_at - time.time()))
    t0 = time.perf_counter()
    pool.record_after = t0 + warmup
    total = int((warmup + seconds) * rate)
    sent = expected = 0
    while sent < total:
        now = time.perf_counter()
        due = t0 + sent * interval
        if due > now:
            await asyncio.sleep(due - now)
            continue
        while sent < total and t0 + sent * interval <= now:  # catch up: each at its own time
            pool.submit(t0 + sent * interval)
            expected += t0 + sent * interval >= pool.record_after
            sent += 1
    deadline = time.perf_counter() + 10
    while len(pool.latencies) + pool.failures < expected and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    missing = expected - len(pool.latencies) - pool.failures
    return pool.latencies, pool.failures, missing


def _generator_process(args: tuple[int, bytes, float, float, float, float]) -> Any:
    try:
        import uvloop

        return uvloop.run(_fixed_rate(*args))
    except ImportError:
        return asyncio.run(_fixed_rate(*args))


def cpu_ticks(group: int) -> tuple[int, int, int]:
    """(busy ticks of the machine, all its ticks, ticks used by process group `group`)."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    busy = sum(values) - values[3] - values[4]  # all but idle and iowait
    used = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process is gone
            continue
        if int(fields[2]) == group:
            used += int(fields[11]) + int(fields[12])  # utime + stime
    return busy, sum(values), used


def fixed_rate(
    port: int,
    token: str,
    rate: float,
    seconds: float,
    warmup: float,
    processes: int,
    server_group: int,
) -> dict[str, Any]:
    request = (
        f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nUser-Agent: bench-open-loop\r\n\r\n"
    ).encode()
    start_at = time.time() + 1.0
    args = [(port, request, rate / processes, seconds, warmup, start_at)] * processes
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        # CPU over the run: a tail made by other work on the machine shows as machine load well
        # above what the server and the generator use, so a noisy run can be told apart.
        before, started = cpu_ticks(server_group), time.monotonic()
        results = pool.map(_generator_process, args)
        after, elapsed = cpu_ticks(server_group), time.monotonic() - started
    tick = os.sysconf("SC_CLK_TCK")
    cpus = os.cpu_count() or 1
    machine = (after[0] - before[0]) / max(1, after[1] - before[1]) * cpus
    server = (after[2] - before[2]) / tick / elapsed
    latencies = sorted(value for lat, _, _ in results for value in lat)
    failures = sum(failed for _, failed, _ in results)
    missing = sum(lost for _, _, lost in results)
    ms = [value * 1000 for value in latencies]
    return {
        "rate_rps": round(rate, 1),
        "requests": len(ms),
        "failures": failures,
        "unanswered": missing,
        "p50_ms": round(percentile(ms, 50), 3),
        "p90_ms": round(percentile(ms, 90), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "p999_ms": round(percentile(ms, 99.9), 3),
        "max_ms": round(ms[-1], 3) if ms else None,
        "cpu_cores": {"machine": round(machine, 2), "server": round(server, 2)},
    }


# --- the run ----------------------------------------------------------------------------------


def start_bare_proxy(
    tmp: Path, port: int, upstream: int, script: Path = BARE_PROXY, name: str = "aiohttp_bare"
) -> subprocess.Popen[bytes]:
    """A bare baseline proxy (bench/baselines/), WORKERS processes in its own group."""
    args = [f"--port={port}", f"--upstream={upstream}", f"--workers={WORKERS}"]
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / f"{name}.stderr", "wb"),
        start_new_session=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--generator-processes", type=int, default=2)
    parser.add_argument(
        "--only",
        choices=("all", "fixed"),
        default="all",
        help="fixed: only our peak (to pick the rate) and the fixed-rate phase, for iterating",
    )
    parser.add_argument(
        "--rate", type=float, help="fixed rate in req/s instead of half our peak (skips our peak)"
    )
    add_tracing_option(parser)
    opts = parser.parse_args(argv)
    peak_seconds, warm_seconds = (5.0, 2.0) if opts.quick else (15.0, 5.0)
    fixed_seconds, fixed_warmup = (5.0, 1.0) if opts.quick else (20.0, 3.0)
    full = opts.only == "all"

    ensure_tools()
    from shared.security import issue_hs256
    from shared.stack import ferretdb
    from shared.stack.ferretdb import FerretDB
    from shared.stack.tansu import Tansu

    token = issue_hs256(
        {"sub": "bench-user", "scope": "items.read", "roles": ["reader"]}, JWT_SECRET, 3600
    )
    headers = {"Authorization": f"Bearer {token}"}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-gateway-")))
        up_port, nginx_port, gw_port, bare_port = free_port(), free_port(), free_port(), free_port()
        llhttp_port = free_port()
        body = UPSTREAM_BODY.replace("'", "")
        upstream = start_nginx(tmp, "upstream", UPSTREAM_CONF, port=up_port, body=body)
        stack.callback(stop_group, upstream)
        proxy = start_nginx(tmp, "proxy", PROXY_CONF, port=nginx_port, upstream=up_port)
        stack.callback(stop_group, proxy)
        broker = Tansu.start(log=tmp / "tansu.log")
        stack.callback(broker.stop)
        documents = FerretDB.start(
            ferretdb.ensure_binary(), data_dir=tmp / "ferretdb", log=tmp / "ferretdb.log"
        )
        stack.callback(documents.stop)
        tracing_env, tracing_note = tracing(opts)
        gateway = start_gateway(tmp, gw_port, up_port, broker.bootstrap, documents.url, tracing_env)
        stack.callback(stop_group, gateway)
        urls = {
            "nginx": f"http://127.0.0.1:{nginx_port}{PATH}",
            "gateway": f"http://127.0.0.1:{gw_port}{PATH}",
        }
        if full:
            bare = start_bare_proxy(tmp, bare_port, up_port)
            stack.callback(stop_group, bare)
            urls["aiohttp_bare"] = f"http://127.0.0.1:{bare_port}{PATH}"
            llhttp = start_bare_proxy(tmp, llhttp_port, up_port, LLHTTP_PROXY, "llhttp_bare")
            stack.callback(stop_group, llhttp)
            urls["llhttp_bare"] = f"http://127.0.0.1:{llhttp_port}{PATH}"
        log(f"upstream nginx :{up_port}, nginx proxy :{nginx_port}, gateway :{gw_port}")
        wait_http(f"http://127.0.0.1:{up_port}{PATH}", {})
        for name, url in urls.items():
            try:
                wait_http(url, headers)
            except TimeoutError:
                if name != "nginx":
                    log((tmp / f"{name}.stderr").read_text()[-3000:])
                raise
        log("all servers answer 200")

        script = tmp / "auth.lua"
        script.write_text(WRK_LUA.format(token=token))
        peak: dict[str, dict[str, Any]] = {}
        for name, url in urls.items():
            if not full and name != "gateway":
                continue
            log(f"peak {name}: warm-up {warm_seconds:g} s, then {peak_seconds:g} s")
            # (also with --rate: the warm-up is what makes sure every worker is serving)
            wrk(url, script, warm_seconds, opts.connections, opts.threads)
            if full or opts.rate is None:
                peak[name] = wrk(url, script, peak_seconds, opts.connections, opts.threads)
                log(f"peak {name}: {peak[name]['rps']:.0f} req/s")

        rate = opts.rate if opts.rate is not None else peak["gateway"]["rps"] / 2
        fixed: dict[str, dict[str, Any]] = {}
        servers = {"nginx": (nginx_port, proxy.pid), "gateway": (gw_port, gateway.pid)}
        for name, (port, group) in servers.items():
            log(f"fixed rate {name}: {rate:.0f} req/s for {fixed_seconds:g} s (+{fixed_warmup:g})")
            fixed[name] = fixed_rate(
                port, token, rate, fixed_seconds, fixed_warmup, opts.generator_processes, group
            )
            log(
                f"fixed rate {name}: p50 {fixed[name]['p50_ms']} ms, p99 {fixed[name]['p99_ms']}"
                f" ms; CPU cores busy: {fixed[name]['cpu_cores']}"
            )
        gateway_exit = gateway.poll()

    added_p99 = fixed["gateway"]["p99_ms"] - fixed["nginx"]["p99_ms"]
    errors = sum(p["status_errors"] + p["socket_errors"] for p in peak.values()) + sum(
        f["failures"] + f["unanswered"] for f in fixed.values()
    )
    fixed_result = {
        "fixed_rate_rps": round(rate, 1),
        "fixed_rate_latency_ms": fixed,
        "added_p99_ms": round(added_p99, 3),
        "added_p50_ms": round(fixed["gateway"]["p50_ms"] - fixed["nginx"]["p50_ms"], 3),
        "added_p99_goal_ms": 3.0,
        "added_p99_ok": added_p99 <= 3.0,
    }
    if not full:  # an iteration run: no comparison of peaks, so no ratios
        partial: dict[str, Any] = {"bench": "gateway", "mode": f"only-{opts.only}"}
        partial["peak_rps"] = {name: round(p["rps"], 1) for name, p in peak.items()}
        partial.update(fixed_result, errors=errors, gateway_exit=gateway_exit)
        print(json.dumps(partial))
        return 0 if errors == 0 else 1

    rps = {name: p["rps"] for name, p in peak.items()}
    ratio = rps["gateway"] / rps["nginx"]
    result = {
        "bench": "gateway",
        "mode": "quick" if opts.quick else "full",
        "workers": WORKERS,
        "cpus": os.cpu_count(),
        "upstream": "nginx static 200 (return), separate process",
        "load": {
            "peak": f"wrk -t{opts.threads} -c{opts.connections} -d{peak_seconds:g}s "
            f"(after {warm_seconds:g}s warm-up), same request + JWT header for all",
            "fixed_rate": f"open loop, {opts.generator_processes} processes, raw HTTP/1.1 "
            f"keep-alive, latency from scheduled send time, {fixed_seconds:g}s",
        },
        "gateway_features": "JWT (HS256) + scope check, global+route token buckets with "
        "RateLimit headers, WAF (IP lists, rate-based, size limits, signatures), spans to file, "
        "Prometheus metrics; LOG_LEVEL=WARNING (access log off, as nginx access_log off)",
        "tracing": tracing_note,
        "aiohttp_bare": "bench/baselines/aiohttp_proxy.py: aiohttp + uvloop, same worker count, "
        "pooled ClientSession, path+query and Authorization forwarded, status+body returned; "
        "no features (the ceiling of the previous, aiohttp, design)",
        "llhttp_bare": "bench/baselines/llhttp_proxy.py: uvloop protocols + httptools both "
        "sides, same worker count, pooled keep-alive upstream, hop-by-hop dropped, XFF added; "
        "no features (the ceiling of the gateway's design)",
        "peak_rps": {name: round(value, 1) for name, value in rps.items()},
        "peak_latency_ms": {
            name: {"p50": p["p50_us"] / 1000, "p99": p["p99_us"] / 1000} for name, p in peak.items()
        },
        "throughput_ratio": round(ratio, 3),
        "throughput_goal": ">= 0.5",
        "throughput_ok": ratio >= 0.5,
        "ceiling_ratio_llhttp_vs_nginx": round(rps["llhttp_bare"] / rps["nginx"], 3),
        "ceiling_ratio_aiohttp_vs_nginx": round(rps["aiohttp_bare"] / rps["nginx"], 3),
        "ours_vs_llhttp_bare": round(rps["gateway"] / rps["llhttp_bare"], 3),
        "ours_vs_aiohttp_bare": round(rps["gateway"] / rps["aiohttp_bare"], 3),
        **fixed_result,
        "errors": errors,
        "gateway_exit": gateway_exit,
        "units": {"rps": "requests/s", "latency": "ms"},
    }
    print(json.dumps(result))
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
