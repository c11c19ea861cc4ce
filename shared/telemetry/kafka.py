"""Trace propagation across Kafka: a PRODUCER span per publish, a CONSUMER span per record.

The W3C `traceparent`/`tracestate` headers travel next to the `ce_*` headers, so a trace
started by an HTTP request continues in whichever process handles the event. Attribute names
follow the OpenTelemetry messaging semantic conventions; the `traces` command builds its
service map from `messaging.system` and `messaging.destination.name`.

These spans run twice per event, so they avoid the generator-based context managers
(`start_as_current_span`/`use_span`): `SpanScope` does what `use_span(end_on_exit=True)` does
with plain method calls. The attributes are passed at span creation, where samplers see them,
except under a sampled-out parent: production sampling drops most traces, and building the
attribute dict for a span that is dropped anyway is wasted on nearly every record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from shared.bus.base import Record

_TRACER_NAME = "shared.telemetry.kafka"
HeaderList = list[tuple[str, bytes]]


class _HeaderSetter(Setter[HeaderList]):
    def set(self, carrier: HeaderList, key: str, value: str) -> None:
        # Replace, never duplicate: a re-published record (DLQ, redrive) must carry one parent.
        if any(name == key for name, _ in carrier):
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


class SpanScope:
    """A started span made current on `__enter__`, ended on `__exit__`.

    Same behaviour as `trace.use_span(span, end_on_exit=True)`: an `Exception` leaving the
    block is recorded on the span and sets its status to ERROR, then propagates.
    """

    __slots__ = ("_token", "span")

    def __init__(self, span: Span) -> None:
        self.span = span
        self._token: object = None

    def __enter__(self) -> Span:
        self._token = otel_context.attach(trace.set_span_in_context(self.span))
        return self.span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        span = self.span
        try:
            otel_context.detach(self._token)  # type: ignore[arg-type]
            if isinstance(exc, Exception) and span.is_recording():
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        finally:
            span.end()


def _header(headers: Sequence[tuple[str, bytes]], name: str) -> str | None:
    for key, raw in headers:
        if key == name:
            return raw.decode("utf-8", "replace")
    return None


def inject_headers(headers: HeaderList) -> None:
    """Add `traceparent` (and `tracestate`) for the current context to a header list."""
    propagate.inject(headers, setter=_SETTER)


def producer_span(
    topic: str,
    headers: HeaderList,
    *,
    event_type: str | None,
    key: bytes | None,
    tracer: Tracer | None = None,
) -> SpanScope:
    """A PRODUCER span `<topic> publish`; its context is injected into `headers` at once."""

    def attributes() -> dict[str, AttributeValue]:
        found: dict[str, AttributeValue] = {
            "messaging.system": "kafka",
            "messaging.destination.name": topic,
            "messaging.operation": "publish",
            "messaging.operation.type": "send",
        }
        _add_message(found, key, headers, event_type)
        return found

    span = _start(tracer, f"{topic} publish", SpanKind.PRODUCER, None, attributes)
    # The span's own context goes into the headers: the consumer's span becomes its child.
    propagate.inject(headers, context=trace.set_span_in_context(span), setter=_SETTER)
    return SpanScope(span)


def _start(
    tracer: Tracer | None,
    name: str,
    kind: SpanKind,
    context: otel_context.Context | None,
    attributes: Callable[[], dict[str, AttributeValue]],
) -> Span:
    """Start a span, building its attributes only when it can be recorded.

    Under a sampled-out parent (production sampling: most traces) the span is dropped anyway,
    so the attribute dict is not built for the sampler; should a sampler record the span after
    all (one that ignores the parent), the attributes are set on it then."""
    parent = trace.get_current_span(context).get_span_context()
    if parent.is_valid and not parent.trace_flags.sampled:
        span = (tracer or _TRACER).start_span(name, context=context, kind=kind)
        if span.is_recording():
            span.set_attributes(attributes())
        return span
    return (tracer or _TRACER).start_span(name, context=context, kind=kind, attributes=attributes())


def _add_message(
    attributes: dict[str, AttributeValue],
    key: bytes | None,
    headers: Sequence[tuple[str, bytes]],
    event_type: str | None,
) -> None:
    """The record's key, CloudEvent id and type, on a producer or consumer span."""
    if key is not None:
        attributes["messaging.kafka.message.key"] = key.decode("utf-8", "replace")
    event_id = _header(headers, "ce_id")
    if event_id is not None:
        attributes["messaging.message.id"] = event_id
        attributes["cloudevents.event_id"] = event_id
    if event_type is not None:
        attributes["cloudevents.event_type"] = event_type


def consumer_span(
    record: Record, group_id: str, event_type: str | None, *, tracer: Tracer | None = None
) -> SpanScope:
    """A CONSUMER span `<topic> process` whose parent is the producer's, read from headers."""
    parent = propagate.extract(record.headers, getter=_GETTER)

    def attributes() -> dict[str, AttributeValue]:
        partition = record.partition
        found: dict[str, AttributeValue] = {
            "messaging.system": "kafka",
            "messaging.destination.name": record.topic,
            "messaging.operation": "process",
            "messaging.operation.type": "process",
            "messaging.consumer.group.name": group_id,
            "messaging.kafka.partition": partition,
            "messaging.destination.partition.id": str(partition),
            "messaging.kafka.offset": record.offset,
        }
        _add_message(found, record.key, record.headers, event_type)
        return found

    span = _start(tracer, f"{record.topic} process", SpanKind.CONSUMER, parent, attributes)
    return SpanScope(span)
