"""Telemetry set-up: span file format, log correlation, X-Ray ids, exporter choice from env."""

from __future__ import annotations

import io
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from pydantic import SecretStr

from shared.settings import PlatformSettings
from shared.telemetry import configure_logging, configure_telemetry, tracer
from shared.telemetry.filexport import JsonlFileSpanExporter
from shared.telemetry.setup import build_propagator, build_tracer_provider, select_span_exporter

pytestmark = pytest.mark.unit

KEYS = {"trace_id", "span_id", "parent_span_id", "name", "kind", "service", "start_ns", "end_ns"}


def file_provider(path: Path, service: str) -> TracerProvider:
    provider = TracerProvider(
        resource=build_tracer_provider(service, PlatformSettings()).resource,
        shutdown_on_exit=False,
    )
    provider.add_span_processor(SimpleSpanProcessor(JsonlFileSpanExporter(path)))
    return provider


def test_file_exporter_writes_documented_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "spans.jsonl"  # parent directory does not exist yet
    api, worker = file_provider(path, "api"), file_provider(path, "worker")
    spans = api.get_tracer("t")
    with spans.start_as_current_span("POST /orders", kind=SpanKind.SERVER) as root:
        with spans.start_as_current_span("orders publish", kind=SpanKind.PRODUCER) as child:
            child.set_attribute("messaging.destination.name", "orders")
            child.set_attribute("tags", ("a", "b"))
        root.set_status(Status(StatusCode.ERROR, "boom"))
    with worker.get_tracer("t").start_as_current_span("orders process", kind=SpanKind.CONSUMER):
        pass

    lines = path.read_text().splitlines()
    assert len(lines) == 3
    records = [json.loads(line) for line in lines]
    assert all(KEYS | {"status", "attributes"} <= set(r) for r in records)
    producer, server, consumer = records
    assert producer["kind"] == "PRODUCER"
    assert producer["service"] == "api"
    assert producer["parent_span_id"] == server["span_id"]
    assert producer["trace_id"] == server["trace_id"]
    assert len(server["trace_id"]) == 32
    assert len(server["span_id"]) == 16
    assert producer["attributes"] == {"messaging.destination.name": "orders", "tags": ["a", "b"]}
    assert server["parent_span_id"] is None
    assert server["status"] == "ERROR"
    assert server["start_ns"] <= producer["start_ns"] <= producer["end_ns"] <= server["end_ns"]
    assert consumer["service"] == "worker"
    assert consumer["status"] == "UNSET"


def test_file_exporter_never_raises(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    provider = file_provider(blocker / "spans.jsonl", "api")
    with provider.get_tracer("t").start_as_current_span("still fine"):
        pass  # the export fails (parent is a file) and is only logged


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_logs_carry_trace_context_and_mask_secrets(log_stream: io.StringIO) -> None:
    configure_logging("api", PlatformSettings(log_format="json"), stream=log_stream)
    configure_logging("api", PlatformSettings(log_format="json"), stream=log_stream)  # idempotent
    provider = TracerProvider(shutdown_on_exit=False)
    with provider.get_tracer("t").start_as_current_span("work") as span:
        logging.getLogger("orders").info(
            "placed %s", "o-1", extra={"order_id": "o-1", "db": SecretStr("pw"), "api_token": "t"}
        )
    logging.getLogger("orders").warning("outside")
    first, second = (json.loads(line) for line in log_stream.getvalue().splitlines())
    ctx = span.get_span_context()
    assert first["trace_id"] == trace.format_trace_id(ctx.trace_id)
    assert first["span_id"] == trace.format_span_id(ctx.span_id)
    assert first["service"] == "api"
    assert first["logger"] == "orders"
    assert first["level"] == "INFO"
    assert first["message"] == "placed o-1"
    assert first["order_id"] == "o-1"
    assert first["db"] == "**********"
    assert first["api_token"] == "**********"
    assert second["trace_id"] is None
    assert "pw" not in log_stream.getvalue()


def test_text_logs(log_stream: io.StringIO) -> None:
    configure_logging("api", PlatformSettings(log_format="text"), stream=log_stream)
    provider = TracerProvider(shutdown_on_exit=False)
    with provider.get_tracer("t").start_as_current_span("work") as span:
        logging.getLogger("orders").info("hello", extra={"password": "hunter2"})
    line = log_stream.getvalue()
    assert "INFO" in line
    assert "api orders: hello" in line
    assert f"trace_id={trace.format_trace_id(span.get_span_context().trace_id)}" in line
    assert "hunter2" not in line


def test_xray_ids_and_propagator() -> None:
    platform = PlatformSettings(otel_xray_ids=True)
    provider = build_tracer_provider("api", platform)
    before = int(time.time())
    with provider.get_tracer("t").start_as_current_span("x") as span:
        carrier: dict[str, str] = {}
        build_propagator(platform).inject(carrier)
    trace_id = trace.format_trace_id(span.get_span_context().trace_id)
    # X-Ray trace ids start with the epoch second of the trace's start
    assert before - 5 <= int(trace_id[:8], 16) <= int(time.time()) + 5
    assert carrier["traceparent"].split("-")[1] == trace_id
    assert carrier["X-Amzn-Trace-Id"].startswith(f"Root=1-{trace_id[:8]}-{trace_id[8:]}")
    plain: dict[str, str] = {}
    build_propagator(PlatformSettings()).inject(plain)
    assert "X-Amzn-Trace-Id" not in plain
    provider.shutdown()


def test_exporter_chosen_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    platform = PlatformSettings(spans_dir=tmp_path / "spans", spans_file_max_bytes=1 << 20)
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    chosen = select_span_exporter(platform, "api/v1")
    assert isinstance(chosen, JsonlFileSpanExporter)
    # one file per process, named after the service (made safe for a file name) and the pid
    assert chosen.path == tmp_path / "spans" / f"api_v1-{os.getpid()}.jsonl"
    assert (chosen.max_bytes, chosen.keep) == (1 << 20, 4)
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        with monkeypatch.context() as env:
            env.setenv(name, "http://collector:4318")
            otlp = select_span_exporter(platform, "api")
            assert isinstance(otlp, OTLPSpanExporter)
            otlp.shutdown()  # type: ignore[no-untyped-call]
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert select_span_exporter(platform, "api") is None


def test_sdk_env_handling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    provider = build_tracer_provider("api", PlatformSettings())
    assert not provider.get_tracer("t").start_span("x").is_recording()
    monkeypatch.delenv("OTEL_TRACES_SAMPLER")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    disabled = build_tracer_provider("api", PlatformSettings())
    assert not disabled.get_tracer("t").start_span("x").is_recording()


def test_configure_telemetry_idempotent_and_swappable(tmp_path: Path) -> None:
    platform = PlatformSettings(spans_dir=tmp_path / "spans")
    memory = InMemorySpanExporter()
    telemetry = configure_telemetry("api", platform, exporter=memory)
    assert configure_telemetry("api", platform) is telemetry
    with tracer("t").start_as_current_span("in memory"):
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
    assert [s.name for s in memory.get_finished_spans()] == ["in memory"]
    assert "traceparent" in carrier
    # after shutdown, configuring again re-attaches the default exporter (here: the file)
    telemetry.shutdown()
    again = configure_telemetry("api", platform)
    assert again is telemetry
    assert isinstance(again.exporter, JsonlFileSpanExporter)
    with tracer("t").start_as_current_span("to file"):
        pass
    assert again.force_flush()
    again.shutdown()
    (written,) = platform.spans_dir.glob(f"*-{os.getpid()}.jsonl")
    names = [json.loads(line)["name"] for line in written.read_text().splitlines()]
    assert names == ["to file"]
    assert len(memory.get_finished_spans()) == 1
