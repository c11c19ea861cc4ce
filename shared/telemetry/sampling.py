"""X-Ray's default sampling rule as an OpenTelemetry sampler: `OTEL_TRACES_SAMPLER=surge_xray`.

A new trace (no parent) is recorded when it is among the first `reservoir` of the current
second, else with probability `ratio` (by trace id, so the decision is the same wherever it is
made). X-Ray's default is 1 per second and 5 %: every service keeps showing a live trace at any
traffic level, and a spike costs 5 % of the tracing work instead of all of it; recording every
request roughly halved the throughput of the waiting room's join path (bench/waitingroom.py).
A trace that arrives with a parent keeps the parent's decision (W3C `sampled` flag, over HTTP
and Kafka headers alike), so a trace is either whole or absent, never cut in the middle.

`OTEL_TRACES_SAMPLER_ARG` is `<reservoir>,<ratio>`, e.g. `1,0.05` (the default when empty).

An edge that starts most traces (the gateway) can decide a root once and cheaply with
`XraySampler.decide_root(trace_id)`: a dropped root then needs no span object at all, only its
ids for the `traceparent` it sends on; a kept one is started with `PRESAMPLED` among its
attributes, which this sampler honours without deciding (or consuming the reservoir) twice.
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
# A span-start attribute: the root was already sampled by `XraySampler.decide_root`.
PRESAMPLED = "surge.sampling.presampled"
_TRACE_ID_LIMIT = TraceIdRatioBased.TRACE_ID_LIMIT


class ReservoirThenRatio(Sampler):
    """Roots only (wrap it in `ParentBased`): the first `reservoir` per second, then `ratio`."""

    def __init__(
        self, reservoir: int, ratio: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if reservoir < 0 or not 0.0 <= ratio <= 1.0:
            raise ValueError("reservoir must be >= 0 and ratio within [0, 1]")
        self.reservoir, self.ratio = reservoir, ratio
        self._by_ratio = TraceIdRatioBased(ratio)
        self._bound = self._by_ratio.bound
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
        if self._borrow():
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, trace_state)
        return self._by_ratio.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def _borrow(self) -> bool:
        second = int(self._clock())
        with self._lock:
            if second != self._second:
                self._second, self._taken = second, 0
            borrowed = self._taken < self.reservoir
            if borrowed:
                self._taken += 1
        return borrowed

    def decide(self, trace_id: int) -> bool:
        """`should_sample`'s decision for a root with `trace_id`, without building a result."""
        second = int(self._clock())
        with self._lock:
            if second != self._second:
                self._second, self._taken = second, 0
            if self._taken < self.reservoir:
                self._taken += 1
                return True
        return trace_id & _TRACE_ID_LIMIT < self._bound

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


class XraySampler(ParentBased):
    """`ParentBased(ReservoirThenRatio)`, plus the edge's one-time root decision."""

    def __init__(self, root: ReservoirThenRatio) -> None:
        super().__init__(root=root)
        self.roots = root

    def decide_root(self, trace_id: int) -> bool:
        """Whether a new trace (no parent) with `trace_id` is recorded; a True consumes the
        reservoir as `should_sample` would, so start that span with `PRESAMPLED` set."""
        return self.roots.decide(trace_id)

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
        if attributes and attributes.get(PRESAMPLED):
            kept = {key: value for key, value in attributes.items() if key != PRESAMPLED}
            return SamplingResult(Decision.RECORD_AND_SAMPLE, kept, trace_state)
        return super().should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )


def xray_sampler(argument: str) -> XraySampler:
    reservoir, ratio = parse_argument(argument)
    return XraySampler(ReservoirThenRatio(reservoir, ratio))
