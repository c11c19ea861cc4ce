from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Tracer

from shared.bus.base import Record
from shared.telemetry.kafka import consumer_span, inject_headers, producer_span

pytestmark = pytest.mark.unit


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer(exporter: InMemorySpanExporter) -> Tracer:
    # A private provider: the process-wide one belongs to configure_telemetry.
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test")


def test_producer_and_consumer_spans_form_one_trace_across_the_headers(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    headers = [("ce_id", b"e-1"), ("traceparent", b"stale")]
    with producer_span("parcels", headers, event_type="t.v1", key=b"k-1", tracer=tracer):
        pass
    assert [k for k, _ in headers].count("traceparent") == 1
    record = Record("parcels", 3, 17, b"k-1", b"{}", tuple(headers))
    with consumer_span(record, "group-a", "t.v1", tracer=tracer):
        pass
    producer, consumer = exporter.get_finished_spans()
    assert (producer.name, producer.kind) == ("parcels publish", SpanKind.PRODUCER)
    assert (consumer.name, consumer.kind) == ("parcels process", SpanKind.CONSUMER)
    assert consumer.context is not None
    assert producer.context is not None
    assert consumer.context.trace_id == producer.context.trace_id
    assert consumer.parent is not None
    assert consumer.parent.span_id == producer.context.span_id
    assert dict(producer.attributes or {}) == {
        "messaging.system": "kafka",
        "messaging.destination.name": "parcels",
        "messaging.operation": "publish",
        "messaging.operation.type": "send",
        "messaging.kafka.message.key": "k-1",
        "messaging.message.id": "e-1",
        "cloudevents.event_id": "e-1",
        "cloudevents.event_type": "t.v1",
    }
    attributes = dict(consumer.attributes or {})
    assert attributes["messaging.consumer.group.name"] == "group-a"
    assert attributes["messaging.kafka.partition"] == 3
    assert attributes["messaging.kafka.offset"] == 17
    assert attributes["messaging.operation"] == "process"
    assert attributes["cloudevents.event_id"] == "e-1"


def test_a_record_without_traceparent_starts_a_new_trace(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    with consumer_span(Record("t", 0, 0, None, b"", ()), "g", None, tracer=tracer):
        pass
    (span,) = exporter.get_finished_spans()
    assert span.parent is None


def test_a_failing_handler_marks_the_consumer_span_as_error(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    with (
        pytest.raises(RuntimeError),
        consumer_span(Record("t", 0, 0, None, b"", ()), "g", None, tracer=tracer),
    ):
        raise RuntimeError("boom")
    (span,) = exporter.get_finished_spans()
    assert not span.status.is_ok


def test_inject_without_an_active_span_adds_nothing() -> None:
    headers: list[tuple[str, bytes]] = []
    inject_headers(headers)
    assert headers == []
