"""The span file processor: spans encoded as they end, lines written by a background thread."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from shared.telemetry.filexport import (
    JsonlFileSpanExporter,
    JsonlFileSpanProcessor,
    encode_spans,
)
from shared.telemetry.setup import _processor_for

pytestmark = pytest.mark.unit


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    provider = TracerProvider(
        resource=Resource.create({"service.name": "api"}), shutdown_on_exit=False
    )
    yield provider
    provider.shutdown()


def _records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_lines_match_the_exporter_format(tmp_path: Path, provider: TracerProvider) -> None:
    path = tmp_path / "nested" / "spans.jsonl"
    processor = JsonlFileSpanProcessor(JsonlFileSpanExporter(path), schedule_delay_millis=60_000)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("GET /items", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.route", "/items")
        with tracer.start_as_current_span("GET items", kind=SpanKind.CLIENT) as child:
            child.set_attribute("tags", ("a", "b"))
        root.set_status(Status(StatusCode.ERROR, "boom"))
    assert not path.exists()  # nothing written before the schedule or a flush
    assert processor.force_flush()
    client, server = _records(path)
    assert client["kind"] == "CLIENT"
    assert client["parent_span_id"] == server["span_id"]
    assert client["attributes"] == {"tags": ["a", "b"]}
    assert server["service"] == "api"
    assert server["status"] == "ERROR"
    assert server["attributes"] == {"http.route": "/items"}
    # the same bytes the exporter writes for the same spans
    spans: list[ReadableSpan] = []
    provider.add_span_processor(_Collect(spans))
    with tracer.start_as_current_span("again"):
        pass
    processor.force_flush()
    assert path.read_bytes().endswith(encode_spans(spans))


def test_writer_thread_writes_on_schedule(tmp_path: Path, provider: TracerProvider) -> None:
    path = tmp_path / "spans.jsonl"
    provider.add_span_processor(
        JsonlFileSpanProcessor(JsonlFileSpanExporter(path), schedule_delay_millis=20)
    )
    with provider.get_tracer("t").start_as_current_span("scheduled"):
        pass
    deadline = time.monotonic() + 5
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [r["name"] for r in _records(path)] == ["scheduled"]


def test_full_queue_drops_and_says_so(
    tmp_path: Path, provider: TracerProvider, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "spans.jsonl"
    processor = JsonlFileSpanProcessor(
        JsonlFileSpanExporter(path), schedule_delay_millis=60_000, max_queue_size=2
    )
    provider.add_span_processor(processor)
    for index in range(5):
        provider.get_tracer("t").start_span(f"s{index}").end()
    with caplog.at_level(logging.WARNING, logger="shared.telemetry.filexport"):
        processor.force_flush()
    assert [r["name"] for r in _records(path)] == ["s0", "s1"]
    assert "dropped 3 spans" in caplog.text


def test_unsampled_spans_and_shutdown(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    processor = JsonlFileSpanProcessor(JsonlFileSpanExporter(path), schedule_delay_millis=60_000)
    unsampled = SpanContext(trace_id=1, span_id=2, is_remote=False, trace_flags=TraceFlags(0))
    processor.on_end(ReadableSpan("unsampled", context=unsampled))
    sampled = SpanContext(trace_id=1, span_id=3, is_remote=False, trace_flags=TraceFlags(1))
    processor.on_end(ReadableSpan("sampled", context=sampled))
    processor.shutdown()  # writes what is waiting
    assert [r["name"] for r in _records(path)] == ["sampled"]
    processor.on_end(ReadableSpan("late", context=sampled))  # after shutdown: ignored
    processor.force_flush()
    assert len(_records(path)) == 1


def test_unusable_path_never_raises(tmp_path: Path, provider: TracerProvider) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    processor = JsonlFileSpanProcessor(
        JsonlFileSpanExporter(blocker / "spans.jsonl"), schedule_delay_millis=60_000
    )
    provider.add_span_processor(processor)
    with provider.get_tracer("t").start_as_current_span("still fine"):
        pass
    assert processor.force_flush()


def test_file_gets_the_processor_with_bsp_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "250")
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "not a number")
    processor = _processor_for(JsonlFileSpanExporter(tmp_path / "s.jsonl"), batch=True)
    assert isinstance(processor, JsonlFileSpanProcessor)
    assert processor._delay == 0.25
    assert processor._max_queue == 2048  # a bad value keeps the default
    processor.shutdown()
    other = _processor_for(InMemorySpanExporter(), batch=True)
    assert isinstance(other, BatchSpanProcessor)  # any other exporter keeps the SDK's batching
    other.shutdown()  # type: ignore[no-untyped-call]


class _Collect(SpanProcessor):
    """Keeps the ended spans (for comparing encodings)."""

    def __init__(self, spans: list[ReadableSpan]) -> None:
        self.spans = spans

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)


def test_per_process_file_rotates_and_keeps_a_bounded_number(tmp_path: Path) -> None:
    exporter = JsonlFileSpanExporter.per_process(tmp_path, "waitingroom", max_bytes=1000, keep=2)
    line = b'{"trace_id": "' + b"a" * 80 + b'"}\n'  # 96 bytes
    for _ in range(40):  # 3840 bytes: three rotations' worth
        assert exporter.write(line)
    pid = os.getpid()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        f"waitingroom-{pid}.1.jsonl",
        f"waitingroom-{pid}.2.jsonl",
        f"waitingroom-{pid}.jsonl",
    ]
    for path in tmp_path.iterdir():
        assert path.stat().st_size <= 1000
        assert all(json.loads(text) for text in path.read_text().splitlines())  # whole lines
    # the tools read the folder: the newest spans are all there, in whole lines
    # 10 lines fit in 1000 bytes: the current file and two rotated ones hold the newest 30
    assert len(read_spans_lines(tmp_path)) == 30


def read_spans_lines(folder: Path) -> list[str]:
    return [line for f in sorted(folder.glob("*.jsonl")) for line in f.read_text().splitlines()]


def test_keep_zero_truncates_instead_of_keeping(tmp_path: Path) -> None:
    exporter = JsonlFileSpanExporter.per_process(tmp_path, "gw", max_bytes=200, keep=0)
    for n in range(10):
        exporter.write(b'{"n": %d, "pad": "%s"}\n' % (n, b"x" * 60))
    (only,) = tmp_path.iterdir()
    assert only.stat().st_size <= 200
    assert json.loads(only.read_text().splitlines()[-1])["n"] == 9


def test_files_of_exited_processes_are_pruned_to_keep(tmp_path: Path) -> None:
    dead = [_exited_pid() for _ in range(3)]
    for age, pid in enumerate(dead):
        for name in (f"notifier-{pid}.jsonl", f"notifier-{pid}.1.jsonl"):
            path = tmp_path / name
            path.write_text("{}\n")
            os.utime(path, (1_000 + age, 1_000 + age))
    (tmp_path / f"gateway-{dead[0]}.jsonl").write_text("{}\n")  # another service: untouched
    exporter = JsonlFileSpanExporter.per_process(tmp_path, "notifier", max_bytes=10_000, keep=2)
    assert exporter.write(b"{}\n")
    left = {p.name for p in tmp_path.iterdir()}
    # this process's file, the newest two of the exited processes', the other service's
    assert f"notifier-{os.getpid()}.jsonl" in left
    assert f"gateway-{dead[0]}.jsonl" in left
    assert len([n for n in left if n.startswith("notifier-") and str(os.getpid()) not in n]) == 2
    assert not any(str(dead[0]) in n for n in left if n.startswith("notifier-"))


def _exited_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid
