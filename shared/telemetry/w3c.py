"""W3C trace context in and out of HTTP headers, without the composite propagator's walk.

Every proxied request carries `traceparent` both ways; `propagate.extract`/`inject` go through
the composite propagator (trace context, then baggage) with getter and setter objects, which
cost more per request than the span itself. When the global propagator is exactly the default
pair and the request carries nothing but a well-formed version-00 `traceparent` (no
`tracestate`, no `baggage`), the result is the same and is computed here directly; anything
else (other propagators such as X-Ray's, trace state, baggage, an odd header) takes the
propagator path. tests/unit/test_w3c.py compares both paths.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping, Sequence

from opentelemetry import baggage, propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "traceparent"
_SIMPLE = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_checked: tuple[object, bool] = (None, False)


def default_textmap() -> bool:
    """Whether the global propagator is exactly W3C trace context + baggage; cached per
    propagator object, since it may be replaced (tests, set-up order)."""
    global _checked
    textmap = propagate.get_global_textmap()
    checked, answer = _checked
    if textmap is checked:
        return answer
    parts = getattr(textmap, "_propagators", None) if type(textmap) is CompositePropagator else ()
    kinds = [type(part) for part in parts or ()]
    answer = kinds == [TraceContextTextMapPropagator, W3CBaggagePropagator]
    _checked = (textmap, answer)
    return answer


def extract(headers: Mapping[str, str]) -> Context:
    """`propagate.extract(headers)` for a request that carries trace headers."""
    raw = headers.get(TRACEPARENT)
    if (
        raw is not None
        and "tracestate" not in headers
        and "baggage" not in headers
        and default_textmap()
        and (match := _SIMPLE.fullmatch(raw)) is not None
    ):
        trace_id, span_id = int(match[1], 16), int(match[2], 16)
        if trace_id and span_id:
            parent = SpanContext(
                trace_id, span_id, is_remote=True, trace_flags=TraceFlags(int(match[3], 16))
            )
            return trace.set_span_in_context(NonRecordingSpan(parent), Context())
    return propagate.extract(headers)


def inject(headers: MutableMapping[str, str], span: trace.Span) -> None:
    """`propagate.inject` of `span`'s context into `headers` (replacing a previous value)."""
    span_context = span.get_span_context()
    if (
        default_textmap()
        and span_context.is_valid
        and not span_context.trace_state
        and not baggage.get_all()
    ):
        headers[TRACEPARENT] = (
            f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}"
            f"-{span_context.trace_flags:02x}"
        )
        return
    propagate.inject(headers, context=trace.set_span_in_context(span))


def record_context(headers: Sequence[tuple[str, bytes]]) -> SpanContext | None:
    """The producer's span context a Kafka record's headers carry (sampled or not), if any:
    the `traceparent` alone is read, with no span made (what the notifier's delivery and the
    waiting room's admission need to continue, or not, the trace that caused them)."""
    raw = next((value for name, value in headers if name == TRACEPARENT), None)
    if raw is None:
        return None
    found = trace.get_current_span(extract({TRACEPARENT: raw.decode("ascii", "replace")}))
    context = found.get_span_context()
    return context if context.is_valid else None
