"""X-Ray's default sampling rule as an OpenTelemetry sampler: `OTEL_TRACES_SAMPLER=surge_xray`.

A new trace (no parent) is recorded when it is among the first `reservoir` of the current
second, else with probability `ratio` (by trace id, so the decision is the same wherever it is
made). X-Ray's default is 1 per second and 5 %: every service keeps showing a live trace at any
traffic level, and a spike costs 5 % of the tracing work instead of all of it; recording every
request roughly halved the throughput of the waiting room's join path (bench/waitingroom.py).
A trace that arrives with a parent keeps the parent's decision (W3C `sampled` flag, over HTTP
and Kafka headers alike), so a trace is either whole or absent, never cut in the middle.

`OTEL_TRACES_SAMPLER_ARG` is `<reservoir>,<ratio>`, e.g. `1,0.05` (the default when empty).
Without `OTEL_TRACES_SAMPLER` the SDK's default (every trace) stays, which is what `make run`
and the tests want; the deployment manifests set `surge_xray`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

NAME = "surge_xray"
DEFAULT_RESERVOIR = 1
DEFAULT_RATIO = 0.05


class ReservoirThenRatio(Sampler):
    """Roots only (wrap it in `ParentBased`): the first `reservoir` per second, then `ratio`."""

    def __init__(
        self, reservoir: int, ratio: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if reservoir < 0 or not 0.0 <= ratio <= 1.0:
            raise ValueError("reservoir must be >= 0 and ratio within [0, 1]")
        self.reservoir, self.ratio = reservoir, ratio
        self._by_ratio = TraceIdRatioBased(ratio)
        self._clock = clock
        self._second = -1
        self._taken = 0
        self._lock = threading.Lock()  # spans may start on exporter or executor threads too

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        second = int(self._clock())
        with self._lock:
            if second != self._second:
                self._second, self._taken = second, 0
            borrowed = self._taken < self.reservoir
            if borrowed:
                self._taken += 1
        if borrowed:
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, trace_state)
        return self._by_ratio.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"ReservoirThenRatio{{{self.reservoir}/s,{self.ratio}}}"


def parse_argument(raw: str) -> tuple[int, float]:
    """`<reservoir>,<ratio>`; empty = X-Ray's default (1 per second, 5 %)."""
    if not raw.strip():
        return DEFAULT_RESERVOIR, DEFAULT_RATIO
    try:
        reservoir_text, ratio_text = raw.split(",")
        reservoir, ratio = int(reservoir_text), float(ratio_text)
    except ValueError as exc:
        raise ValueError(
            f"OTEL_TRACES_SAMPLER_ARG for {NAME} is '<reservoir>,<ratio>', e.g. '1,0.05'; "
            f"got {raw!r}"
        ) from exc
    if reservoir < 0 or not 0.0 <= ratio <= 1.0:
        raise ValueError(f"{NAME}: reservoir must be >= 0 and ratio within [0, 1]; got {raw!r}")
    return reservoir, ratio


def xray_sampler(argument: str) -> Sampler:
    reservoir, ratio = parse_argument(argument)
    return ParentBased(root=ReservoirThenRatio(reservoir, ratio))
