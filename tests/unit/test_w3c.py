"""The W3C shortcuts read and write what the global propagator would."""

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

from shared.telemetry.w3c import extract, inject

pytestmark = pytest.mark.unit

DEFAULT = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])


@pytest.fixture
def w3c() -> Iterator[None]:
    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(DEFAULT)
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
    inject(headers, span)
    assert list(headers.items()) == list(_generic(span).items())
    assert headers["traceparent"] == f"00-{0x1234:032x}-{0xABCD:016x}-{flags:02x}"


def test_tracestate_and_baggage_still_travel(w3c: None) -> None:
    span = _span(1, TraceState([("vendor", "value")]))
    headers: CIMultiDict[str] = CIMultiDict()
    inject(headers, span)
    assert headers["tracestate"] == "vendor=value"

    token = context.attach(baggage.set_baggage("tenant", "acme"))
    try:
        headers = CIMultiDict()
        inject(headers, _span())
        assert headers["baggage"] == "tenant=acme"
        assert "traceparent" in headers
    finally:
        context.detach(token)


def test_another_propagator_is_used_as_it_is() -> None:
    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(CompositePropagator([W3CBaggagePropagator()]))
    try:
        headers: CIMultiDict[str] = CIMultiDict()
        inject(headers, _span())
        assert "traceparent" not in headers
    finally:
        propagate.set_global_textmap(previous)


def _context_of(found: context.Context) -> SpanContext:
    return trace.get_current_span(found).get_span_context()


@pytest.mark.parametrize(
    "headers",
    [
        {"traceparent": f"00-{'a' * 32}-{'b' * 16}-01"},
        {"traceparent": f"00-{'a' * 32}-{'b' * 16}-00"},
        {"traceparent": f"00-{'a' * 32}-{'b' * 16}-01", "tracestate": "v=1"},
        {"traceparent": f"00-{'a' * 32}-{'b' * 16}-01", "baggage": "tenant=acme"},
        {"traceparent": f"00-{'0' * 32}-{'b' * 16}-01"},  # invalid trace id
        {"traceparent": f"00-{'A' * 32}-{'b' * 16}-01"},  # upper case: the propagator decides
        {"traceparent": f"ff-{'a' * 32}-{'b' * 16}-01"},  # forbidden version
        {"traceparent": "garbage"},
    ],
)
def test_extract_matches_the_propagator(w3c: None, headers: dict[str, str]) -> None:
    carrier = CIMultiDict(headers)
    ours, theirs = extract(carrier), propagate.extract(carrier)
    assert _context_of(ours) == _context_of(theirs)
    assert _context_of(ours).trace_state == _context_of(theirs).trace_state
    assert baggage.get_all(ours) == baggage.get_all(theirs)
