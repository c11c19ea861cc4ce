"""One visitor's journey through the `make run` stack is one trace, proved with the `traces`
command: the browser's own `traceparent` on the join through the gateway, the waiting room's
join and admission, the bus, the notifier, and the delivery to the visitor's socket on `/ws`.
The map shows the WebSocket session apart from requests; the span files carry no token,
cookie, Authorization value, email or unmasked client IP; the console (Chromium) finds the
trace by a filter expression and shows every hop."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shared.security import issue_hs256
from shared.stack import secretsfile
from shared.stack.servers import free_port
from tests.stack_support import ROOT, Stack, stack_environment, stack_ports

pytestmark = pytest.mark.e2e
BROWSER = ROOT / "tests" / "browser"
CONSOLE_SCRIPT = BROWSER / "trace_console.js"
BROWSER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
BROWSER_SPAN = "00f067aa0ba902b7"
EMAIL = "visitor.journey@example.com"


def traces(spans: Path, *args: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "shared.telemetry.traces.cli", "--dir", str(spans), "--json", *args],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return json.loads(done.stdout)


async def until(predicate: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.2)


def delivered(spans: Path) -> bool:
    try:
        shown = traces(spans, "show", BROWSER_TRACE)
    except subprocess.CalledProcessError:
        return False
    names = {row["name"] for row in shown["spans"]}
    return "websocket.deliver" in names


async def journey(gateway: str, room: str, admin: str, token: str, zone: str) -> dict[str, Any]:
    """Sign in on /ws, join with the browser's traceparent, be admitted, hear it pushed."""
    async with aiohttp.ClientSession() as http:
        created = await http.post(
            f"{room}/waitingroom/admin/zones",
            headers={"Authorization": f"Bearer {admin}"},
            json={"id": zone, "capacity": 10, "max_active": 5, "admit_per_minute": 600,
                  "session_ttl": 120, "position_ttl": 600},
        )  # fmt: skip
        assert created.status == 201, await created.text()
        async with http.ws_connect(
            f"{gateway.replace('http', 'ws')}/ws", protocols=[f"bearer.{token}"]
        ) as ws:
            welcome = await ws.receive_json(timeout=20)
            assert welcome["type"] == "welcome", welcome
            joined = await http.post(
                f"{gateway}/waitingroom/zones/{zone}/join",
                headers={
                    "Authorization": f"Bearer {token}",
                    "traceparent": f"00-{BROWSER_TRACE}-{BROWSER_SPAN}-01",
                    "Cookie": "session=cookie-value-must-not-leak",
                },
                json={},
            )
            assert joined.status in (200, 201, 202), await joined.text()
            async with asyncio.timeout(60):
                while True:
                    frame = await ws.receive_json()
                    if frame.get("event") == "waitingroom.admitted":
                        return dict(frame)


async def test_one_journey_is_one_trace_from_the_browser_to_the_socket(tmp_path: Path) -> None:
    ports = stack_ports()
    stack = Stack.start(stack_environment(tmp_path, ports))
    spans = tmp_path / "spans"
    try:
        secrets = secretsfile.read(tmp_path / "secrets.env")
        token = issue_hs256({"sub": "visitor-1", "email": EMAIL}, secrets["AUTH_JWT_SECRET"], 600)
        gateway = f"http://127.0.0.1:{ports['GATEWAY_PORT']}"
        room = f"http://127.0.0.1:{ports['WAITINGROOM_PORT']}"
        admitted = await journey(gateway, room, secrets["ADMIN_TOKEN"], token, "launch")
        assert admitted["data"]["zone"] == "launch"
        await until(lambda: delivered(spans), 60, "the delivery span never reached the files")

        shown = traces(spans, "show", BROWSER_TRACE)
        rows = shown["spans"]
        by_id = {row["span_id"]: row for row in rows}
        hops = {(row["service"], row["name"]) for row in rows}
        # the browser's span is the parent of the gateway's: one trace from the browser on
        gateway_root = next(r for r in rows if r["service"] == "gateway" and r["kind"] == "SERVER")
        assert gateway_root["parent_span_id"] == BROWSER_SPAN
        assert {"gateway", "waitingroom", "notifier"} <= set(shown["services"])
        assert ("waitingroom", "waitingroom.admit") in hops
        assert ("notifier", "notifications process") in hops
        assert ("notifier", "notifier.publications publish") in hops
        deliver = next(r for r in rows if r["name"] == "websocket.deliver")
        assert deliver["attributes"]["websocket.delivered"] is True
        assert deliver["links"], "the delivery links the visitor's session span"
        # the admission hangs under the join's trace and links to the decision
        admit = next(r for r in rows if r["name"] == "waitingroom.admit")
        assert admit["links"]
        chain = [deliver]
        while chain[-1]["parent_span_id"] in by_id:
            chain.append(by_id[chain[-1]["parent_span_id"]])
        assert chain[-1] is gateway_root, [r["name"] for r in chain]
        assert admit in chain
        # the trace's critical path runs to the delivery
        assert deliver["critical"]
        found = traces(spans, "find", 'service("notifier") { ok } AND annotation.zone = "launch"')
        assert BROWSER_TRACE in {t["trace_id"] for t in found}

        graph = traces(spans, "map")
        edges = {(e["source"], e["target"], e["kind"]): e for e in graph["edges"]}
        assert ("client", "gateway", "request") in edges
        assert ("notifier", "websocket", "request") in edges
        # the WebSocket: its request ended at the 101; the session is its own edge
        await until(lambda: _session_ended(spans), 30, "no session span")
        graph = traces(spans, "map")
        edges = {(e["source"], e["target"], e["kind"]): e for e in graph["edges"]}
        assert ("client", "gateway", "session") in edges
        assert ("gateway", "notifier", "session") in edges
        assert edges[("client", "gateway", "request")]["p99_ms"] < 5000  # no session in it
        if printed := os.environ.get("TRACE_JOURNEY_MAP"):  # for the docs: the map as printed
            text = subprocess.run(
                [sys.executable, "-m", "shared.telemetry.traces.cli", "--dir", str(spans), "map"],
                cwd=ROOT, capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            Path(printed).write_text(text)
        _privacy_scan(spans, token, secrets["ADMIN_TOKEN"])
        await _console_finds_it(spans, tmp_path)
    finally:
        stack.stop()
        stack.kill()


def _session_ended(spans: Path) -> bool:
    services = {
        row["service"]
        for file in spans.glob("*.jsonl")
        for row in map(json.loads, file.read_text().splitlines())
        if row["name"] == "websocket.session"
    }
    return {"gateway", "notifier"} <= services


def _privacy_scan(spans: Path, token: str, admin: str) -> None:
    """No token, cookie, Authorization value, email or unmasked client IP in any span."""
    text = "\n".join(file.read_text() for file in spans.glob("*.jsonl"))
    for secret in (token, admin, "cookie-value-must-not-leak", EMAIL, "Bearer "):
        assert secret not in text, f"{secret[:12]}... is in a span file"
    for line in filter(None, text.splitlines()):
        span = json.loads(line)
        for key, value in span["attributes"].items():
            lowered = key.lower()
            assert not any(w in lowered for w in ("authorization", "cookie", "token")), key
            if any(w in lowered for w in ("client.address", "client_ip", "forwarded")):
                assert str(value).count(".") < 3, (key, value)  # masked or absent


async def _console_finds_it(spans: Path, tmp_path: Path) -> None:
    if not Path("/usr/bin/chromium").exists() or shutil.which("node") is None:
        pytest.fail("the console test needs chromium and node (make test installs them)")
    port = free_port()
    env = {**os.environ, "TRACES_PORT": str(port), "TRACES_LOGS_DIR": str(tmp_path / "logs"),
           "TRACES_GROUPS_FILE": str(tmp_path / "trace-groups.json")}  # fmt: skip
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.telemetry.traces.cli", "--dir", str(spans), "serve",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        await asyncio.wait_for(server.stdout.readline(), 30)  # "trace console on ..."
        config = {
            "url": f"http://127.0.0.1:{port}/",
            "filter": 'service("notifier") { ok } AND annotation.zone = "launch"',
            "traceId": BROWSER_TRACE,
            "screenshot": str(tmp_path / "console.png"),
            "timeoutMs": 30000,
        }
        node = await asyncio.create_subprocess_exec(
            "node", str(CONSOLE_SCRIPT), json.dumps(config),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(node.communicate(), 120)
        assert node.returncode == 0, err.decode()[-3000:]
        seen = json.loads(out.decode().strip().splitlines()[-1])
        assert seen["errors"] == [], seen["errors"]
        assert seen["mapNodes"] >= 5, seen  # client, gateway, waiting room, topics, notifier
        assert BROWSER_TRACE in seen["traceIds"]
        services = set(seen["timelineServices"])
        assert {"gateway", "waitingroom", "notifier"} <= services
        assert "websocket.deliver" in seen["timelineText"]
        assert seen["critical"] > 0
        shot = os.environ.get("TRACE_CONSOLE_SCREENSHOT")
        if shot:
            shutil.copy(tmp_path / "console.png", shot)
    finally:
        server.terminate()
        await server.wait()
