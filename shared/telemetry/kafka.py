"""Trace propagation across Kafka: a PRODUCER span per publish, a CONSUMER span per record.

The W3C `traceparent`/`tracestate` headers travel next to the `ce_*` headers, so a trace
started by an HTTP request continues in whichever process handles the event. Attribute names
follow the OpenTelemetry messaging semantic conventions; the `traces` command builds its
service map from `messaging.system` and `messaging.destination.name`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.trace import Span, SpanKind, Tracer
from opentelemetry.util.types import AttributeValue

from shared.bus.base import Record

_TRACER_NAME = "shared.telemetry.kafka"
HeaderList = list[tuple[str, bytes]]


class _HeaderSetter(Setter[HeaderList]):
    def set(self, carrier: HeaderList, key: str, value: str) -> None:
        # Replace, never duplicate: a re-published record (DLQ, redrive) must carry one parent.
        carrier[:] = [(name, raw) for name, raw in carrier if name != key]
        carrier.append((key, value.encode("utf-8")))


class _HeaderGetter(Getter[Sequence[tuple[str, bytes]]]):
    def get(self, carrier: Sequence[tuple[str, bytes]], key: str) -> list[str] | None:
        values = [raw.decode("utf-8", "replace") for name, raw in carrier if name == key]
        return values or None

    def keys(self, carrier: Sequence[tuple[str, bytes]]) -> list[str]:
        return [name for name, _ in carrier]


_SETTER = _HeaderSetter()
_GETTER = _HeaderGetter()
# A ProxyTracer: it follows whatever provider configure_telemetry installs later.
_TRACER = trace.get_tracer(_TRACER_NAME)


def _header(headers: Sequence[tuple[str, bytes]], name: str) -> str | None:
    for key, raw in headers:
        if key == name:
            return raw.decode("utf-8", "replace")
    return None


def inject_headers(headers: HeaderList) -> None:
    """Add `traceparent` (and `tracestate`) for the current context to a header list."""
    propagate.inject(headers, setter=_SETTER)


@contextmanager
def producer_span(
    topic: str,
    headers: HeaderList,
    *,
    event_type: str | None,
    key: bytes | None,
    tracer: Tracer | None = None,
) -> Iterator[Span]:
    """A PRODUCER span `<topic> publish`; its context is injected into `headers` on entry."""
    attributes: dict[str, AttributeValue] = {
        "messaging.system": "kafka",
        "messaging.destination.name": topic,
        "messaging.operation": "publish",
        "messaging.operation.type": "send",
    }
    if key is not None:
        attributes["messaging.kafka.message.key"] = key.decode("utf-8", "replace")
    event_id = _header(headers, "ce_id")
    if event_id is not None:
        attributes["messaging.message.id"] = event_id
        attributes["cloudevents.event_id"] = event_id
    if event_type is not None:
        attributes["cloudevents.event_type"] = event_type
    active = tracer or _TRACER
    with active.start_as_current_span(
        f"{topic} publish", kind=SpanKind.PRODUCER, attributes=attributes
    ) as span:
        inject_headers(headers)
        yield span


@contextmanager
def consumer_span(
    record: Record, group_id: str, event_type: str | None, *, tracer: Tracer | None = None
) -> Iterator[Span]:
    """A CONSUMER span `<topic> process` whose parent is the producer's, read from headers."""
    parent = propagate.extract(record.headers, getter=_GETTER)
    attributes: dict[str, AttributeValue] = {
        "messaging.system": "kafka",
        "messaging.destination.name": record.topic,
        "messaging.operation": "process",
        "messaging.operation.type": "process",
        "messaging.consumer.group.name": group_id,
        "messaging.kafka.partition": record.partition,
        "messaging.destination.partition.id": str(record.partition),
        "messaging.kafka.offset": record.offset,
    }
    if record.key is not None:
        attributes["messaging.kafka.message.key"] = record.key.decode("utf-8", "replace")
    event_id = record.header("ce_id")
    if event_id is not None:
        attributes["messaging.message.id"] = event_id.decode("utf-8", "replace")
        attributes["cloudevents.event_id"] = event_id.decode("utf-8", "replace")
    if event_type is not None:
        attributes["cloudevents.event_type"] = event_type
    active = tracer or _TRACER
    with active.start_as_current_span(
        f"{record.topic} process", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
    ) as span:
        yield span
