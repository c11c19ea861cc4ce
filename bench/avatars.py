"""Avatars benchmark: pipeline throughput, on-the-fly resizing, memory under big uploads, and
the time from upload to the result on the player's socket.

    python bench/avatars.py [--quick]

Setup (one run, this machine): the embedded Kafka and FerretDB, `services.avatars` (CPU pool of
AVATARS_POOL_WORKERS=2 processes, the real open_nsfw model, the embedded blob store),
`services.notifier` and `services.gateway` (the shipped route table pointed at these ports with
its per-IP and per-user limits raised so the bench is never throttled), each its own process
group, LOG_LEVEL=WARNING, spans sampled as in production (`--trace-all` records every trace).
Images are made by the script: photo-like JPEGs (smooth colour fields with sensor grain, about
3 bits per pixel, Q88) of 2 to 24 megapixels.

1. pipeline images/s: IMAGES uploads through the gateway (POST /avatars/uploads, PUT to the
   signed URL), UPLOADERS at a time, timed from the first request to the last
   `avatars.moderated` outcome on the bus (every one `published`), against a bare loop doing
   the same intrinsic work (bench/baselines/avatar_pipeline.py: the same inspection, model and
   eager variants in a plain multiprocessing.Pool of the same size, files already on disk).
   Goal: ours / bare >= 0.7.
2. on-the-fly resize req/s on the service's own port (signed anonymous identity, as the gateway
   sends it), against bench/baselines/avatar_resize.py (bare aiohttp + the same pyvips render,
   same canonical images): misses (every allowed, not eager size in AVIF, WebP and JPEG of
   every published version, each asked once, CONCURRENCY at a time) and hits (the same URLs
   again, for HIT_SECONDS). Goal: ours / bare >= 0.8 for both.
3. peak RSS of the avatars process and its pool workers (summed, sampled every 50 ms) while
   BIG uploads of 24 MP are sent at once and until all are published. Goal <= 1 GiB.
4. upload -> result on the player's socket: SAMPLES uploads of a 2 MP photo one after another
   by a player holding a notifier WebSocket through the gateway; from the upload request to the
   `published` push; p50/p99.

Progress on stderr; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bench.support import (  # noqa: E402
    add_tracing_option,
    free_port,
    identity_keys,
    percentile,
    real_servers,
    signed_identity,
    stop_group,
    tracing,
)

SECRET = "bench-avatars-secret-long-enough-for-hs256-00"  # noqa: S105 - bench only
ADMIN = "bench-avatars-admin-token"
POOL = 2
LAZY_SIZES = ("32x32", "48x48", "96x96", "192x192", "512x512")
EXTENSIONS = ("avif", "webp", "jpg")
CONCURRENCY = 8
HIT_SECONDS = 5.0
OURS = "bench-avatars-"  # in the data paths of this run's Kafka and FerretDB
PHASE_CPU: dict[str, dict[str, float]] = {}  # CPU seconds by process during each pipeline run


def log(message: str) -> None:
    print(f"[bench/avatars] {message}", file=sys.stderr, flush=True)


def token(user: str) -> str:
    from shared.security import issue_hs256

    return issue_hs256({"sub": user}, SECRET, 3600)


def photos(directory: Path, megapixels: Sequence[int]) -> list[Path]:
    """One photo-like JPEG per entry (4:3), cached by size and seed."""
    from tests.avatars_images import photo_jpeg

    paths = []
    for index, mp in enumerate(megapixels):
        width = int((mp * 1_000_000 * 4 / 3) ** 0.5)
        path = directory / f"photo-{mp}mp-{index % 3}.jpg"
        if not path.exists():
            path.write_bytes(photo_jpeg(width, width * 3 // 4, seed=index % 3 + mp))
        paths.append(path)
    return paths


# --- servers ----------------------------------------------------------------------------------


def start_service(tmp: Path, module: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    from shared.stack.orphans import die_with_parent

    name = module.rsplit(".", 1)[-1]
    with (tmp / f"{name}.stderr").open("wb") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )


def wait_ready(url: str, procs: dict[str, subprocess.Popen[bytes]], tmp: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                tail = (tmp / f"{name}.stderr").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{url} not ready")


def routes(ports: dict[str, int]) -> str:
    text = (ROOT / "services" / "gateway" / "routes.yaml").read_text(encoding="utf-8")
    urls = {"AVATARS": ports["av"], "NOTIFIER": ports["nf"], "NOTIFIER_WS": ports["nf_ws"]}
    text = re.sub(
        r"\$\{([A-Z_]+)_URL:-[^}]*\}",
        lambda m: f"http://127.0.0.1:{urls[m.group(1)]}" if m.group(1) in urls else m.group(0),
        text,
    )
    text = re.sub(r"rate: \d+, burst: \d+", "rate: 1000000, burst: 1000000", text)
    return re.sub(r"rate: (\d+)\s+# requests", r"rate: 1000000  # requests", text).replace(
        "burst: 10000", "burst: 1000000"
    )


def tree_rss(pid: int) -> int:
    """RSS bytes of `pid` and every descendant."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
        todo += children.get(current, [])
    return total


def cpu_seconds() -> dict[str, float]:
    """CPU seconds (user + system) used so far by every process on the machine, by a short
    name: which of ours (gateway, avatars and its pool, notifier, kafka, ferretdb, this bench)
    or "other" (the rest of the machine's load)."""
    tick = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        name = "other"
        for marker, label in (("services.gateway", "gateway"), ("services.avatars", "avatars"),
                              ("services.notifier", "notifier"), ("kafka", "kafka"),
                              ("ferretdb", "ferretdb"), ("bench/avatars.py", "bench"),
                              ("multiprocessing.spawn", "pool")):  # fmt: skip
            if marker in command and (label not in ("kafka", "ferretdb") or OURS in command):
                name = label
                break
        used[name] = used.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return used


def cpu_since(before: dict[str, float]) -> dict[str, float]:
    after = cpu_seconds()
    return {k: round(after.get(k, 0.0) - before.get(k, 0.0), 2) for k in sorted(after)}


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self._done = pid, 0, threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.05):
            self.peak = max(self.peak, tree_rss(self.pid))

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak


# --- the player's side ----------------------------------------------------------------------


class Outcomes:
    """Every `avatars.moderated` outcome, read from the bus as another service would."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.seen: dict[str, tuple[float, str]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        from aiokafka import AIOKafkaConsumer

        self.consumer = AIOKafkaConsumer(
            "avatars.moderated",
            bootstrap_servers=self.bootstrap,
            group_id=f"bench-{os.getpid()}",
            auto_offset_reset="latest",
            fetch_max_wait_ms=500,
        )
        await self.consumer.start()
        while not self.consumer.assignment():
            await asyncio.sleep(0.05)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for record in self.consumer:
            data = json.loads(record.value)
            self.seen[data["upload_id"]] = (time.perf_counter(), data["outcome"])

    async def wait(self, ids: Sequence[str], within: float = 600) -> float:
        async with asyncio.timeout(within):
            while not all(i in self.seen for i in ids):
                await asyncio.sleep(0.02)
        bad = {self.seen[i][1] for i in ids} - {"published"}
        if bad:
            raise RuntimeError(f"uploads ended {bad}")
        return max(self.seen[i][0] for i in ids)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.consumer.stop()


async def upload(session: aiohttp.ClientSession, base: str, user: str, data: bytes) -> str:
    auth = {"Authorization": f"Bearer {token(user)}"}
    async with session.post(f"{base}/avatars/uploads", json={}, headers=auth) as created:
        if created.status != 201:
            raise RuntimeError(f"create: {created.status} {await created.text()}")
        body = await created.json()
    ticket = body["upload"]
    async with session.put(ticket["url"], data=data, headers=ticket["headers"]) as sent:
        if sent.status != 200:
            raise RuntimeError(f"upload: {sent.status} {await sent.text()}")
    return str(body["id"])


async def upload_all(
    session: aiohttp.ClientSession, base: str, files: Sequence[Path], parallel: int
) -> list[str]:
    slots = asyncio.Semaphore(parallel)

    async def one(index: int, path: Path) -> str:
        async with slots:
            return await upload(session, base, f"player-{index}", path.read_bytes())

    return list(await asyncio.gather(*(one(i, p) for i, p in enumerate(files))))


# --- phases -----------------------------------------------------------------------------------


async def pipeline_ours(base: str, outcomes: Outcomes, files: Sequence[Path]) -> float:
    async with aiohttp.ClientSession() as session:
        await outcomes.wait(await upload_all(session, base, files[:1], 1))  # warm-up: model load
        before = cpu_seconds()
        started = time.perf_counter()
        ids = await upload_all(session, base, files, 4)
        ended = await outcomes.wait(ids)
    PHASE_CPU["ours"] = cpu_since(before)
    return len(files) / (ended - started)


def pipeline_bare(files: Sequence[Path]) -> float:
    from bench.baselines.avatar_pipeline import init, work
    from services.avatars.imaging.inspect import Limits
    from services.avatars.settings import AvatarsSettings

    settings = AvatarsSettings()
    limits = Limits(settings.max_pixels, settings.max_side, settings.canonical_max_side)
    sizes, formats = settings.variant_size_list(), settings.eager_format_list()
    context = multiprocessing.get_context("spawn")
    with context.Pool(POOL, initializer=init, initargs=("opennsfw",)) as pool:
        pool.starmap(work, [(str(files[0]), limits, sizes, formats)] * POOL)  # warm-up
        before = cpu_seconds()
        started = time.perf_counter()
        pool.starmap(work, [(str(p), limits, sizes, formats) for p in files])
        rate = len(files) / (time.perf_counter() - started)
    PHASE_CPU["bare"] = cpu_since(before)
    return rate


async def hammer(urls: Sequence[str], headers: dict[str, str], seconds: float | None) -> float:
    """req/s over `urls` (each once, or round and round for `seconds`), CONCURRENCY at a time."""
    done, position = 0, 0
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        started = time.perf_counter()
        deadline = started + seconds if seconds else None

        async def worker() -> None:
            nonlocal done, position
            while True:
                if deadline is None:
                    if position >= len(urls):
                        return
                elif time.perf_counter() >= deadline:
                    return
                url = urls[position % len(urls)]
                position += 1
                async with session.get(url) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"{url}: {response.status}")
                done += 1

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return done / (time.perf_counter() - started)


async def socket_latency(base: str, ws_base: str, photo: bytes, samples: int) -> list[float]:
    import websockets
    from websockets.typing import Subprotocol

    user = "player-socket"
    protocols = [Subprotocol("surge.v1"), Subprotocol(f"bearer.{token(user)}")]
    latencies = []
    async with (
        aiohttp.ClientSession() as session,
        websockets.connect(f"{ws_base}/ws", subprotocols=protocols) as ws,
    ):
        while json.loads(await ws.recv()).get("type") != "welcome":
            pass
        for _ in range(samples):
            started = time.perf_counter()
            upload_id = await upload(session, base, user, photo)
            async with asyncio.timeout(120):
                while True:
                    frame = json.loads(await ws.recv())
                    data = frame.get("data") or {}
                    if data.get("upload_id") == upload_id and data.get("state") == "published":
                        break
            latencies.append((time.perf_counter() - started) * 1000)
    return sorted(latencies)


async def measure(opts: argparse.Namespace, tmp: Path, env: dict[str, str], ports: dict[str, int],
                  avatars_pid: int, images: Path) -> dict[str, Any]:  # fmt: skip
    base = f"http://127.0.0.1:{ports['gw']}"
    quick = opts.quick
    mix = [2, 4, 8, 12] * 3 if quick else [2, 4, 8, 12, 16, 24] * 4
    files = photos(images, mix)
    outcomes = Outcomes(env["KAFKA_BOOTSTRAP_SERVERS"])
    await outcomes.start()
    result: dict[str, Any] = {}
    try:
        log(f"1. pipeline: {len(files)} photos of {min(mix)}-{max(mix)} MP through the gateway")
        ours = await pipeline_ours(base, outcomes, files)
        log(f"   ours {ours:.2f} images/s; the bare loop on the same files ...")
        bare = await asyncio.to_thread(pipeline_bare, files)
        log(f"   bare {bare:.2f} images/s: ratio {ours / bare:.2f}")
        result["pipeline"] = {"images": len(files), "megapixels": sorted(set(mix)),
                              "ours_images_per_s": round(ours, 3),
                              "bare_images_per_s": round(bare, 3),
                              "ratio": round(ours / bare, 3), "goal": 0.7,
                              "cpu_seconds": PHASE_CPU}  # fmt: skip
        log(f"   CPU seconds by process: {PHASE_CPU}")

        published = [d for d in (tmp / "avatars-data" / "blobs" / "avatars").glob("*/*")
                     if (d / "canonical.webp").exists()]  # fmt: skip
        direct = f"http://127.0.0.1:{ports['av']}"
        ours_urls = [f"{direct}/media/avatars/{d.parent.name}/{d.name}/{size}.{ext}"
                     for d in published for size in LAZY_SIZES for ext in EXTENSIONS]  # fmt: skip
        bare_root = tmp / "bare-media"
        for d in published:
            (bare_root / d.name).mkdir(parents=True, exist_ok=True)
            (bare_root / d.name / "canonical.webp").write_bytes((d / "canonical.webp").read_bytes())
        bare_urls = [f"http://127.0.0.1:{ports['bare']}/media/{d.name}/{size}.{ext}"
                     for d in published for size in LAZY_SIZES for ext in EXTENSIONS]  # fmt: skip
        identity = signed_identity("avatars")
        log(f"2. resize: {len(ours_urls)} misses each ({len(published)} versions)")
        ours_miss = await hammer(ours_urls, identity, None)
        bare_miss = await hammer(bare_urls, {}, None)
        ours_hit = await hammer(ours_urls, identity, HIT_SECONDS)
        bare_hit = await hammer(bare_urls, {}, HIT_SECONDS)
        log(f"   miss ours {ours_miss:.1f} bare {bare_miss:.1f}; hit ours {ours_hit:.0f} "
            f"bare {bare_hit:.0f} req/s")  # fmt: skip
        result["resize"] = {
            "urls": len(ours_urls), "concurrency": CONCURRENCY,
            "miss_ours_rps": round(ours_miss, 1), "miss_bare_rps": round(bare_miss, 1),
            "miss_ratio": round(ours_miss / bare_miss, 3),
            "hit_ours_rps": round(ours_hit, 1), "hit_bare_rps": round(bare_hit, 1),
            "hit_ratio": round(ours_hit / bare_hit, 3), "goal": 0.8,
        }  # fmt: skip

        big = photos(images, [24] * (6 if quick else 20))
        log(f"3. memory: {len(big)} uploads of 24 MP ({big[0].stat().st_size >> 20} MiB) at once")
        sampler = RssSampler(avatars_pid)
        before = tree_rss(avatars_pid)
        sampler.start()
        async with aiohttp.ClientSession() as session:
            ids = await upload_all(session, base, big, len(big))
            await outcomes.wait(ids)
        peak = sampler.stop()
        log(f"   peak RSS {peak / 2**20:.0f} MiB (idle {before / 2**20:.0f} MiB)")
        result["memory"] = {"uploads": len(big), "megapixels": 24, "idle_rss_mib": before >> 20,
                            "peak_rss_mib": peak >> 20, "goal_mib": 1024}  # fmt: skip

        samples = 8 if quick else 30
        log(f"4. upload -> published on the socket: {samples} uploads of a 2 MP photo")
        photo = photos(images, [2])[0].read_bytes()
        ws_base = base.replace("http", "ws", 1)
        latencies = await socket_latency(base, ws_base, photo, samples)
        result["socket"] = {"samples": samples, "p50_ms": round(percentile(latencies, 50), 1),
                            "p99_ms": round(percentile(latencies, 99), 1),
                            "mean_ms": round(statistics.fmean(latencies), 1)}  # fmt: skip
        log(f"   p50 {result['socket']['p50_ms']} ms, p99 {result['socket']['p99_ms']} ms")
    finally:
        await outcomes.stop()
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (smoke test)")
    add_tracing_option(parser)
    opts = parser.parse_args(argv)
    tracing_env, tracing_note = tracing(opts)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    images = Path(tempfile.gettempdir()) / "surge-bench-avatars-images"
    images.mkdir(exist_ok=True)
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=OURS)))
        servers = stack.enter_context(real_servers(tmp))
        ports = {n: free_port() for n in ("gw", "gw_admin", "nf", "nf_ws", "av", "bare")}
        env = {
            **os.environ,
            **servers,
            "AUTH_JWT_SECRET": SECRET,
            "IDENTITY_KEYS": identity_keys(),
            "ADMIN_TOKEN": ADMIN,
            "LOG_LEVEL": "WARNING",
            "SPANS_DIR": str(tmp / "spans"),
            "AVATARS_PORT": str(ports["av"]),
            "AVATARS_DATA_DIR": str(tmp / "avatars-data"),
            "AVATARS_POOL_WORKERS": str(POOL),
            "NOTIFIER_PORT": str(ports["nf"]),
            "NOTIFIER_WS_PORT": str(ports["nf_ws"]),
            "GATEWAY_PORT": str(ports["gw"]),
            "GATEWAY_ADMIN_PORT": str(ports["gw_admin"]),
            "GATEWAY_ROUTES_YAML": routes(ports),
            "GATEWAY_WAF_RATE_LIMIT": "1000000000",
            **tracing_env,
        }
        procs: dict[str, subprocess.Popen[bytes]] = {}
        for module in ("services.avatars", "services.notifier", "services.gateway"):
            name = module.rsplit(".", 1)[-1]
            procs[name] = start_service(tmp, module, env)
            stack.callback(stop_group, procs[name])
        bare = subprocess.Popen(
            [sys.executable, str(ROOT / "bench/baselines/avatar_resize.py"), str(ports["bare"]),
             str(tmp / "bare-media")],
            cwd=ROOT, env=env, start_new_session=True,
        )  # fmt: skip
        stack.callback(stop_group, bare)
        for name, port in (("avatars", "av"), ("notifier", "nf"), ("gateway", "gw")):
            wait_ready(f"http://127.0.0.1:{ports[port]}/readyz", procs, tmp)
            log(f"{name} ready on :{ports[port]}")
        plan = json.dumps({"name": "bench", "rate": 1_000_000, "burst": 1_000_000}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{ports['gw_admin']}/admin/plans/avatar-uploads",
            data=plan, method="PUT",
            headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass
        result = asyncio.run(measure(opts, tmp, env, ports, procs["avatars"].pid, images))
    summary = {
        "bench": "avatars",
        "quick": opts.quick,
        "tracing": tracing_note,
        "pool_workers": POOL,
        "cores": os.cpu_count(),
        **result,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
