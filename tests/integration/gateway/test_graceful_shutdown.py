"""SIGTERM on a real gateway process: in-flight requests finish, then it exits 0."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from shared.stack.servers import free_port
from tests.conftest import Broker

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


async def wait_ready(
    session: aiohttp.ClientSession, url: str, process: asyncio.subprocess.Process
) -> None:
    for _ in range(600):
        assert process.returncode is None, "gateway exited early"
        try:
            async with session.get(url) as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("gateway never became ready")


async def test_sigterm_lets_in_flight_requests_finish(kafka: Broker, tmp_path: Path) -> None:
    arrived, release = asyncio.Event(), asyncio.Event()

    async def hold(request: web.Request) -> web.Response:
        arrived.set()
        await release.wait()
        return web.Response(text="done")

    upstream = web.Application()
    upstream.router.add_get("/hold", hold)
    seen = b""
    async with TestServer(upstream) as server:
        port, admin_port = free_port(), free_port()
        routes = (
            f"upstreams:\n  up:\n    url: {server.make_url('')}\n"
            "routes:\n  - id: hold\n    prefix: /hold\n    upstream: up\n"
        )
        env = {
            **os.environ,
            "GATEWAY_PORT": str(port),
            "GATEWAY_ADMIN_PORT": str(admin_port),
            "GATEWAY_ROUTES_YAML": routes,
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            "SHUTDOWN_GRACE_SECONDS": "20",
            "SPANS_DIR": str(tmp_path / "spans"),
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.gateway",
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            async with aiohttp.ClientSession() as session:
                await wait_ready(session, f"http://127.0.0.1:{port}/readyz", process)
                in_flight = asyncio.ensure_future(session.get(f"http://127.0.0.1:{port}/hold"))
                await asyncio.wait_for(arrived.wait(), 10)
                process.send_signal(signal.SIGTERM)
                assert process.stdout is not None
                seen = b""
                while b"stopping" not in seen:  # shutdown has begun, the request is in flight
                    line = await asyncio.wait_for(process.stdout.readline(), 20)
                    assert line, seen.decode()[-3000:]
                    seen += line
                release.set()
                response = await asyncio.wait_for(in_flight, 20)
                assert response.status == 200
                assert await response.text() == "done"
                response.release()
            code = await asyncio.wait_for(process.wait(), 30)
            assert process.stdout is not None
            output = (seen + await process.stdout.read()).decode()
            assert code == 0, output[-3000:]
            assert "stopped" in output
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
