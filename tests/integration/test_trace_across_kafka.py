"""One trace crosses HTTP -> Kafka -> a consumer in another OS process, and the `traces`
command shows it: the waterfall holds both services' spans, the service map the edges
orders -> topic -> fulfilment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from shared.stack.servers import free_port
from tests.conftest import Broker
from tests.identity_support import anonymous

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def service(name: str, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.trace_services", name],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
        assert process.returncode == 0, output[-3000:]


def wait_ready(port: int, process: subprocess.Popen[str], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert process.poll() is None, "service exited early"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"port {port} not ready within {within}s")


def traces(spans: Path, *args: str) -> object:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "shared.telemetry.traces.cli",
            "--dir",
            str(spans),
            "--json",
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout)


def consumer_span(spans: Path, trace_id: str) -> dict[str, object] | None:
    for file in spans.glob("*.jsonl"):  # one file per process
        for line in file.read_text().splitlines():
            span = json.loads(line)
            if span["trace_id"] == trace_id and span["kind"] == "CONSUMER":
                return span  # type: ignore[no-any-return]
    return None


def test_one_trace_spans_http_kafka_and_a_consumer_process(
    kafka: Broker, tmp_path: Path, unique: str
) -> None:
    spans = tmp_path / "spans"
    topic = f"trace.orders.{unique}"
    base = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "SPANS_DIR": str(spans),
        "TRACE_TOPIC": topic,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    base.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    orders_port, fulfilment_port = free_port(), free_port()
    with (
        service("orders", {**base, "SERVICE_PORT": str(orders_port)}) as orders,
        service("fulfilment", {**base, "SERVICE_PORT": str(fulfilment_port)}) as fulfilment,
    ):
        wait_ready(orders_port, orders)
        wait_ready(fulfilment_port, fulfilment)
        trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
        request = urllib.request.Request(
            f"http://127.0.0.1:{orders_port}/orders/o-1",
            method="POST",
            headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01", **anonymous("orders")},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 202
        deadline = time.monotonic() + 60
        while consumer_span(spans, trace_id) is None:
            assert time.monotonic() < deadline, "the consumer never processed the event"
            time.sleep(0.1)

    shown = traces(spans, "show", trace_id)
    assert isinstance(shown, dict)
    rows = shown["spans"]
    services = {row["service"] for row in rows}
    assert {"orders", "fulfilment"} <= services
    kinds = {(row["service"], row["kind"]) for row in rows}
    assert ("orders", "SERVER") in kinds
    assert ("orders", "PRODUCER") in kinds
    assert ("fulfilment", "CONSUMER") in kinds
    by_id = {row["span_id"]: row for row in rows}
    consumer = next(row for row in rows if row["kind"] == "CONSUMER")
    producer = by_id[consumer["parent_span_id"]]
    assert producer["kind"] == "PRODUCER"
    assert producer["service"] == "orders"

    service_map = traces(spans, "map")
    assert isinstance(service_map, dict)
    edges = {(edge["source"], edge["target"]) for edge in service_map["edges"]}
    assert ("orders", f"kafka:{topic}") in edges
    assert (f"kafka:{topic}", "fulfilment") in edges
    # each process wrote a file of its own
    assert {f.name.split("-")[0] for f in spans.glob("*.jsonl")} >= {"orders", "fulfilment"}
