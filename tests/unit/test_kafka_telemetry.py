from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
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


def _unsampled_parent_headers() -> tuple[tuple[str, bytes], ...]:
    return (("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"),)


def test_under_a_sampled_out_parent_the_spans_stay_dropped_and_the_decision_travels(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    record = Record("parcels", 0, 5, b"k", b"{}", _unsampled_parent_headers())
    with consumer_span(record, "g", "t.v1", tracer=tracer) as consumed:
        assert not consumed.is_recording()
        headers: list[tuple[str, bytes]] = [("ce_id", b"e-2")]
        with producer_span("next", headers, event_type="t.v1", key=b"k", tracer=tracer):
            pass
    assert exporter.get_finished_spans() == ()
    traceparent = dict(headers)["traceparent"].decode()
    assert traceparent.startswith("00-0af7651916cd43dd8448eb211c80319c-")
    assert traceparent.endswith("-00")  # still not sampled downstream


def test_a_sampler_that_records_anyway_still_gets_the_attributes(
    exporter: InMemorySpanExporter,
) -> None:
    provider = TracerProvider(sampler=ALWAYS_ON)  # ignores the parent's decision
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    record = Record("parcels", 2, 9, b"k", b"{}", _unsampled_parent_headers())
    with consumer_span(record, "g", None, tracer=provider.get_tracer("test")):
        pass
    (span,) = exporter.get_finished_spans()
    assert (span.attributes or {})["messaging.kafka.offset"] == 9
    assert (span.attributes or {})["messaging.consumer.group.name"] == "g"
