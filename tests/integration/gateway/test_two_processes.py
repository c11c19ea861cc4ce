"""Two gateway processes on one store count one API key's quota and usage: the totals are exact.

FerretDB runs updates as read-modify-write, so two processes adding to one document would lose
counts; each process stores its own count (shared.storeops.WriterCounters) and totals are sums.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from shared.stack.servers import free_port
from shared.store import Store
from tests.conftest import Broker
from tests.integration.gateway.test_graceful_shutdown import wait_ready

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
ADMIN_TOKEN = "a" * 40
PER_PROCESS = 150


async def start_gateway(env: dict[str, str]) -> tuple[asyncio.subprocess.Process, int, int]:
    port, admin_port = free_port(), free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.gateway",
        cwd=ROOT,
        env={**env, "GATEWAY_PORT": str(port), "GATEWAY_ADMIN_PORT": str(admin_port)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return process, port, admin_port


async def test_two_processes_count_one_quota_exactly(
    kafka: Broker, store: Store, tmp_path: Path
) -> None:
    async def ok(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    upstream = web.Application()
    upstream.router.add_get("/api/{tail:.*}", ok)
    async with TestServer(upstream) as server:
        routes = (
            f"upstreams:\n  up:\n    url: {server.make_url('')}\n"
            "routes:\n  - {id: api, prefix: /api/, upstream: up, auth: api_key}\n"
        )
        env = {
            **os.environ,
            "GATEWAY_ROUTES_YAML": routes,
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "GATEWAY_USAGE_FLUSH_SECONDS": "1",
            "SPANS_DIR": str(tmp_path / "spans"),
        }
        gateways = [await start_gateway(env) for _ in range(2)]
        try:
            async with aiohttp.ClientSession() as session:
                for process, port, _ in gateways:
                    await wait_ready(session, f"http://127.0.0.1:{port}/readyz", process)
                admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
                first_admin = f"http://127.0.0.1:{gateways[0][2]}/admin"
                plan = {
                    "id": "metered",
                    "name": "M",
                    "rate": 1000,
                    "burst": 1000,
                    "quota_day": 10**6,
                }
                async with session.post(f"{first_admin}/plans", json=plan, headers=admin) as r:
                    assert r.status == 201, await r.text()
                body = {"name": "two", "plan_id": "metered"}
                async with session.post(f"{first_admin}/keys", json=body, headers=admin) as r:
                    assert r.status == 201, await r.text()
                    created = await r.json()
                key = {"X-API-Key": created["key"]}

                async def call(port: int, n: int) -> int:
                    url = f"http://127.0.0.1:{port}/api/{n}"
                    async with session.get(url, headers=key) as response:
                        return response.status

                statuses = await asyncio.gather(
                    *(call(port, n) for _, port, _ in gateways for n in range(PER_PROCESS))
                )
                assert set(statuses) == {200}
        finally:
            for process, _, _ in gateways:
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)  # the final flush stores the last counts
            codes = [await asyncio.wait_for(process.wait(), 30) for process, _, _ in gateways]
        assert codes == [0, 0]

    day = datetime.now(UTC).date().isoformat()
    usage = await store.db["usage"].find({"key_id": created["id"]}).to_list(100)
    assert len({doc["_id"] for doc in usage}) == 2  # one document per process
    assert sum(doc["requests"] for doc in usage if doc["day"] == day) == 2 * PER_PROCESS
    period = f"{created['id']}|day:{day}"
    quota = await store.db["quota_usage"].find({"key": period}).to_list(100)
    assert sum(doc["count"] for doc in quota) == 2 * PER_PROCESS
