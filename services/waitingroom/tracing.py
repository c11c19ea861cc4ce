"""The waiting room's part of whole traces: an admission continues the visitor's join trace.

- Applying a zone log record, the replica keeps the record's trace context (`cause`); a join's
  is kept on the place when it was sampled (two ints per such visitor, nothing otherwise).
- A controller tick starts a trace only when it writes a decision: `waitingroom.decide`, a
  root linked to the sampled joins an admission admits (the sampling rules keep a root with a
  sampled link without using the reservoir), around the decision's publish.
- Each `waitingroom.admitted` notification is published under a per-visitor
  `waitingroom.admit` span in the join's trace, linked to the decision's span; every other
  notification continues the trace of the record that caused it (none: no new root).
"""

from __future__ import annotations

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, NonRecordingSpan, Span, SpanContext, SpanKind

from services.waitingroom.places import Note, Place
from shared.bus.base import Record
from shared.telemetry import w3c
from shared.telemetry.rules import NO_RESERVOIR

_tracer = trace.get_tracer("services.waitingroom")
ZONE = "surge.annotation.zone"


def record_context(record: Record) -> SpanContext | None:
    """The producer's span context a record carries (sampled or not), if any."""
    return w3c.record_context(record.headers)


def decide_span(zone: str, kind: str, admitted: list[Place] | None = None) -> Span:
    """A root span for a decision the tick writes; linked to the sampled joins it admits."""
    links = [Link(p.join) for p in admitted or () if p.join is not None] or None
    return _tracer.start_span(
        "waitingroom.decide",
        context=otel_context.Context(),
        kind=SpanKind.INTERNAL,
        links=links,
        attributes={ZONE: zone, "waitingroom.decision": kind, NO_RESERVOIR: True},
    )


def note_context(note: Note, zone: str) -> tuple[Span | None, otel_context.Context]:
    """Where a notification is published: under a new `waitingroom.admit` span in the join's
    trace for an admission of a sampled join, else in the causing record's trace."""
    if note.join is not None and note.event == "admitted":
        parent = trace.set_span_in_context(NonRecordingSpan(note.join), otel_context.Context())
        links = [Link(note.cause)] if note.cause is not None else None
        span = _tracer.start_span(
            "waitingroom.admit",
            context=parent,
            kind=SpanKind.INTERNAL,
            links=links,
            attributes={ZONE: zone},
        )
        return span, trace.set_span_in_context(span, otel_context.Context())
    if note.cause is not None:
        return None, trace.set_span_in_context(NonRecordingSpan(note.cause), otel_context.Context())
    # No trace caused it: an explicitly unsampled parent, so publishing starts no new root.
    return None, _UNTRACED


_UNTRACED = trace.set_span_in_context(
    NonRecordingSpan(SpanContext(1, 1, is_remote=True)), otel_context.Context()
)
