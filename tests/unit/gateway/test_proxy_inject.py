"""The proxy's traceparent shortcut writes what the global propagator would."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from multidict import CIMultiDict
from opentelemetry import baggage, context, propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.span import TraceState

from services.gateway.proxy import _inject

W3C = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])


@pytest.fixture
def w3c() -> Iterator[None]:
    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(W3C)
    try:
        yield
    finally:
        propagate.set_global_textmap(previous)


def _span(flags: int = 0, state: TraceState | None = None) -> trace.Span:
    return NonRecordingSpan(
        SpanContext(
            0x1234, 0xABCD, is_remote=False, trace_flags=TraceFlags(flags), trace_state=state
        )
    )


def _generic(span: trace.Span) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict()
    propagate.inject(headers, context=trace.set_span_in_context(span))
    return headers


@pytest.mark.parametrize("flags", [0, 1])
def test_shortcut_matches_the_propagator(w3c: None, flags: int) -> None:
    span = _span(flags)
    headers: CIMultiDict[str] = CIMultiDict([("traceparent", "stale")])
    _inject(headers, span)
    assert list(headers.items()) == list(_generic(span).items())
    assert headers["traceparent"] == f"00-{0x1234:032x}-{0xABCD:016x}-{flags:02x}"


def test_tracestate_and_baggage_still_travel(w3c: None) -> None:
    span = _span(1, TraceState([("vendor", "value")]))
    headers: CIMultiDict[str] = CIMultiDict()
    _inject(headers, span)
    assert headers["tracestate"] == "vendor=value"

    token = context.attach(baggage.set_baggage("tenant", "acme"))
    try:
        headers = CIMultiDict()
        _inject(headers, _span())
        assert headers["baggage"] == "tenant=acme"
        assert "traceparent" in headers
    finally:
        context.detach(token)


def test_another_propagator_is_used_as_it_is() -> None:
    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(CompositePropagator([W3CBaggagePropagator()]))
    try:
        headers: CIMultiDict[str] = CIMultiDict()
        _inject(headers, _span())
        assert "traceparent" not in headers
    finally:
        propagate.set_global_textmap(previous)
