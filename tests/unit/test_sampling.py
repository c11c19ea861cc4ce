"""The X-Ray-style sampler: roots by reservoir then ratio, children by their parent."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import Decision, ParentBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from shared.settings import PlatformSettings
from shared.telemetry.sampling import ReservoirThenRatio, parse_argument, xray_sampler
from shared.telemetry.setup import build_tracer_provider
from tests.clock import ManualClock

pytestmark = pytest.mark.unit


def decisions(sampler: ReservoirThenRatio | ParentBased, count: int) -> list[bool]:
    return [
        sampler.should_sample(None, trace_id=n + 1, name="GET /").decision
        == Decision.RECORD_AND_SAMPLE
        for n in range(count)
    ]


def test_the_reservoir_takes_the_first_of_each_second_then_the_ratio_decides() -> None:
    clock = ManualClock(100.0)
    sampler = ReservoirThenRatio(reservoir=2, ratio=0.0, clock=clock)
    assert decisions(sampler, 5) == [True, True, False, False, False]
    clock.now += 0.5  # same second: the reservoir stays spent
    assert decisions(sampler, 1) == [False]
    clock.now += 0.5  # a new second
    assert decisions(sampler, 3) == [True, True, False]


def test_beyond_the_reservoir_the_ratio_is_applied_by_trace_id() -> None:
    everything = ReservoirThenRatio(reservoir=0, ratio=1.0, clock=ManualClock())
    assert all(decisions(everything, 20))
    half = ReservoirThenRatio(reservoir=0, ratio=0.5, clock=ManualClock())
    low, high = 1, 2**64 - 1  # TraceIdRatioBased compares the low 64 bits with a bound
    assert half.should_sample(None, low, "x").decision == Decision.RECORD_AND_SAMPLE
    assert half.should_sample(None, high, "x").decision == Decision.DROP


def _parent(sampled: bool) -> object:
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    context = SpanContext(trace_id=7, span_id=9, is_remote=True, trace_flags=flags)
    return trace.set_span_in_context(NonRecordingSpan(context))


def test_a_child_follows_its_parents_decision_whatever_the_reservoir() -> None:
    sampler = xray_sampler("0,0.0")  # roots: never
    sampled = sampler.should_sample(_parent(True), 7, "consume")  # type: ignore[arg-type]
    assert sampled.decision == Decision.RECORD_AND_SAMPLE
    generous = xray_sampler("100,1.0")  # roots: always
    dropped = generous.should_sample(_parent(False), 7, "consume")  # type: ignore[arg-type]
    assert dropped.decision == Decision.DROP


def test_the_argument_defaults_to_xrays_rule_and_refuses_nonsense() -> None:
    assert parse_argument("") == (1, 0.05)
    assert parse_argument(" 3,0.25 ") == (3, 0.25)
    for bad in ("5", "a,b", "1,2", "-1,0.1", "1,0.1,3"):
        with pytest.raises(ValueError, match=r"OTEL_TRACES_SAMPLER_ARG|reservoir"):
            parse_argument(bad)


def test_the_provider_uses_it_when_named_and_the_sdk_default_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "surge_xray")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "2,0.1")
    sampler = build_tracer_provider("svc", PlatformSettings()).sampler
    assert "ReservoirThenRatio{2/s,0.1}" in sampler.get_description()
    monkeypatch.delenv("OTEL_TRACES_SAMPLER")
    assert (
        "ReservoirThenRatio"
        not in build_tracer_provider("svc", PlatformSettings()).sampler.get_description()
    )
