"""The `traces` command on a synthetic span file: service map statistics and the waterfall.

Each trace: client -> gateway (SERVER) -> HTTP CLIENT -> orders (SERVER) -> mongo + PRODUCER
-> topic orders.placed -> notifier (CONSUMER, another process) -> mongo + an external push API.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shared.telemetry.traces.cli import main

pytestmark = pytest.mark.unit

MS = 1_000_000
TOPIC = "orders.placed"


def tid(trace: int) -> str:
    return f"{trace:02x}" + "ab" * 15


def span(
    trace: int, sid: int, parent: int | None, name: str, kind: str, service: str,
    start_ms: float, end_ms: float, status: str = "UNSET", attrs: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    base = 1_800_000_000_000 * MS + trace * 10_000 * MS  # traces start 10 s apart
    return {
        "trace_id": tid(trace),
        "span_id": f"{trace:08x}{sid:08x}",
        "parent_span_id": f"{trace:08x}{parent:08x}" if parent else None,
        "name": name,
        "kind": kind,
        "service": service,
        "start_ns": base + int(start_ms * MS),
        "end_ns": base + int(end_ms * MS),
        "status": status,
        "attributes": attrs or {},
    }


def one_trace(t: int) -> list[dict[str, Any]]:
    call = 10.0 * (t + 1)  # gateway -> orders call takes 10, 20, ... 100 ms
    failed = "ERROR" if t == 3 else "UNSET"
    mongo = {"db.system": "mongodb", "db.namespace": "surge", "db.operation.name": "insert"}
    kafka = {"messaging.system": "kafka", "messaging.destination.name": TOPIC}
    http = {"server.address": "127.0.0.1", "server.port": 8081}
    push = {"server.address": "fcm.example.com", "server.port": 443}
    return [
        span(t, 1, None, "POST /orders", "SERVER", "gateway", 0, call + 10),
        span(t, 2, 1, "POST", "CLIENT", "gateway", 5, 5 + call, failed, http),
        span(t, 3, 2, "POST /internal/orders", "SERVER", "orders", 6, 4 + call, failed),
        span(t, 4, 3, "surge.insert", "CLIENT", "orders", 6.5, 7.5, attrs=mongo),
        span(t, 5, 3, f"{TOPIC} publish", "PRODUCER", "orders", 8, 9, attrs=kafka),
        span(
            t, 6, 5, f"{TOPIC} process", "CONSUMER", "notifier", call + 50, call + 70, attrs=kafka
        ),
        span(t, 7, 6, "surge.find", "CLIENT", "notifier", call + 52, call + 54, attrs=mongo),
        span(t, 8, 6, "POST", "CLIENT", "notifier", call + 55, call + 65, attrs=push),
    ]


@pytest.fixture
def span_file(tmp_path: Path) -> Path:
    path = tmp_path / "spans.jsonl"
    lines = [json.dumps(s) for t in range(10) for s in one_trace(t)]
    # a line another process is still writing must not break the command
    path.write_text("\n".join(lines) + '\n{"trace_id": "abc", "span_')
    return path


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def run_json(*argv: str) -> Any:
    code, text = run(*argv, "--json")
    assert code == 0
    return json.loads(text)


def test_map_edges_counts_errors_percentiles(span_file: Path) -> None:
    graph = run_json("--file", str(span_file), "map")
    nodes = {(n["type"], n["name"]) for n in graph["nodes"]}
    assert nodes == {
        ("client", "client"),
        ("service", "gateway"),
        ("service", "orders"),
        ("service", "notifier"),
        ("topic", f"kafka:{TOPIC}"),
        ("store", "mongodb:surge"),
        ("store", "fcm.example.com:443"),
    }
    edges = {(e["source"], e["target"]): e for e in graph["edges"]}
    assert set(edges) == {
        ("client", "gateway"),
        ("gateway", "orders"),
        ("orders", "mongodb:surge"),
        ("orders", f"kafka:{TOPIC}"),
        (f"kafka:{TOPIC}", "notifier"),
        ("notifier", "mongodb:surge"),
        ("notifier", "fcm.example.com:443"),
    }
    call = edges[("gateway", "orders")]
    # the failed call has no status code: an ERROR status is a fault, as X-Ray counts it
    assert (call["count"], call["faults"], call["fault_pct"]) == (10, 1, 10.0)
    assert (call["errors"], call["throttles"], call["health"]) == (0, 0, "fault")
    assert call["p50_ms"] == pytest.approx(50.0)
    assert call["p99_ms"] == pytest.approx(100.0)
    assert (call["source_type"], call["target_type"]) == ("service", "service")
    assert edges[("orders", f"kafka:{TOPIC}")]["target_type"] == "topic"
    assert edges[(f"kafka:{TOPIC}", "notifier")]["source_type"] == "topic"
    consume = edges[(f"kafka:{TOPIC}", "notifier")]
    assert (consume["count"], consume["fault_pct"], consume["p99_ms"]) == (10, 0.0, 20.0)
    assert {e["kind"] for e in graph["edges"]} == {"request"}
    assert edges[("orders", "mongodb:surge")]["p50_ms"] == pytest.approx(1.0)
    assert edges[("client", "gateway")]["p99_ms"] == pytest.approx(110.0)


def test_map_text(span_file: Path) -> None:
    code, text = run("--file", str(span_file), "map")
    assert code == 0
    row = next(line for line in text.splitlines() if line.startswith("gateway -> orders "))
    # calls, err%, thr%, flt%, p50, p99
    assert row.split()[-6:] == ["10", "0.0", "0.0", "10.0", "50.00", "100.00"]
    assert "[topic] kafka:orders.placed" in text
    assert "[store] mongodb:surge" in text


def test_show_waterfall_json_order_and_depth(span_file: Path) -> None:
    trace_id = tid(9)
    doc = run_json("--file", str(span_file), "show", trace_id)
    assert doc["trace_id"] == trace_id
    assert doc["services"] == ["gateway", "orders", "notifier"]
    got = [(s["depth"], s["service"], s["kind"], s["name"]) for s in doc["spans"]]
    assert got == [
        (0, "gateway", "SERVER", "POST /orders"),
        (1, "gateway", "CLIENT", "POST"),
        (2, "orders", "SERVER", "POST /internal/orders"),
        (3, "orders", "CLIENT", "surge.insert"),
        (3, "orders", "PRODUCER", f"{TOPIC} publish"),
        (4, "notifier", "CONSUMER", f"{TOPIC} process"),
        (5, "notifier", "CLIENT", "surge.find"),
        (5, "notifier", "CLIENT", "POST"),
    ]
    consumer = doc["spans"][5]
    assert consumer["offset_ms"] == pytest.approx(150.0)
    assert consumer["duration_ms"] == pytest.approx(20.0)
    assert doc["duration_ms"] == pytest.approx(170.0)
    # --last picks the most recent trace, and an id prefix is enough
    assert run_json("--file", str(span_file), "show", "--last")["trace_id"] == trace_id
    assert run_json("--file", str(span_file), "show", "--latest")["trace_id"] == trace_id
    assert run_json("--file", str(span_file), "show", "03")["trace_id"] == tid(3)
    assert run("--file", str(span_file), "show", "0")[0] == 1  # ambiguous prefix


def test_show_text_marks_errors(span_file: Path) -> None:
    code, text = run("--file", str(span_file), "show", tid(3))
    assert code == 0
    lines = text.splitlines()
    body = [line for line in lines[3:] if line.strip()]
    assert "POST /orders" in body[0]
    assert "    POST /internal/orders  !ERROR" in body[2]
    assert "orders.placed process" in body[5]
    assert body[0].count("|") == 2
    assert run("--file", str(span_file), "show", "f" * 32)[0] == 1


def test_list_newest_first(span_file: Path) -> None:
    traces = run_json("--file", str(span_file), "list", "--limit", "3")
    assert [t["trace_id"] for t in traces] == [tid(9), tid(8), tid(7)]
    assert traces[0]["root_name"] == "POST /orders"
    assert traces[0]["services"] == ["gateway", "orders", "notifier"]
    assert traces[0]["span_count"] == 8
    code, text = run("--file", str(span_file), "list")
    assert code == 0
    assert len(text.splitlines()) == 11


def test_console_entry_point(span_file: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "shared.telemetry.traces.cli", "--json", "map", "--file",
         str(span_file)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert {"nodes", "edges"} <= set(json.loads(done.stdout))
