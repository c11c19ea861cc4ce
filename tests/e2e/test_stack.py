"""The local stack as `make run` starts it: every service healthy and ready, then a clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from shared.stack.registry import SERVICES
from shared.stack.tansu import free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid:
            found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code


def test_stack_starts_healthy_and_stops_cleanly(tmp_path: Path) -> None:
    env = {**os.environ, "STACK_KAFKA_PORT": "0", "STACK_RUN_DIR": str(tmp_path)}
    ports = {}
    for entry in SERVICES:
        ports[entry.name] = free_port()
        env[entry.port_env] = str(ports[entry.name])
        if entry.admin_port_env:
            env[entry.admin_port_env] = str(free_port())
        for name in entry.extra_ports:
            env[name] = str(free_port())
    env.pop("AUTH_JWT_SECRET", None)
    env.pop("ADMIN_TOKEN", None)
    runner = subprocess.Popen(
        [sys.executable, "-m", "shared.stack.runner"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        assert runner.stdout is not None
        deadline = time.monotonic() + 90
        for line in runner.stdout:
            output.append(line)
            if "Ctrl-C stops everything" in line or time.monotonic() > deadline:
                break
        banner = "".join(output)
        assert "Surge is up" in banner, banner[-3000:]
        assert "ADMIN_TOKEN=" in banner
        assert "AUTH_JWT_SECRET=" in banner
        for name, port in ports.items():
            assert _status(f"http://127.0.0.1:{port}/healthz") == 200, name
            assert _status(f"http://127.0.0.1:{port}/readyz") == 200, name
        children = _children(runner.pid)
        assert len(children) >= len(SERVICES) + 1  # every service and the broker
        runner.send_signal(signal.SIGINT)
        rest, _ = runner.communicate(timeout=60)
        output.append(rest)
        assert runner.returncode == 0, "".join(output)[-3000:]
        assert not [pid for pid in children if _alive(pid)]
        assert "[stack] stopped" in rest
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.communicate()
