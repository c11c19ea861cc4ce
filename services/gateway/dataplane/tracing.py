"""Each request's server span, with a sampled-out new trace made nearly free.

Under production sampling (`OTEL_TRACES_SAMPLER=surge_xray`, shared/telemetry/sampling.py) most
traces start at the gateway and most are dropped. The SDK still builds a sampling result, a
span context and a non-recording span for each of them; here the sampler's root decision is
taken once on a trace id from the provider's own generator, and a dropped root is only its ids
(`Dropped`), from which the `traceparent` sent upstream is formatted (flags as the SDK sets
them). A kept root, a request that brings its own trace context, and any other sampler go
through the SDK as before.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Tracer, TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from services.gateway.request import Request
from shared.telemetry import w3c
from shared.telemetry.sampling import PRESAMPLED, XraySampler

ROOT = Context()
_tracer = trace.get_tracer("shared.http")
_getrandbits = random.getrandbits


class Dropped:
    """A new trace the sampler dropped: the ids its server span would have had."""

    __slots__ = ("flags", "span_id", "trace_id")

    def __init__(self, trace_id: int, span_id: int, flags: int) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.flags = flags

    def span(self) -> NonRecordingSpan:
        """The same as a span object (for the code that wants one: retries, tunnels)."""
        context = SpanContext(
            self.trace_id, self.span_id, is_remote=False, trace_flags=TraceFlags(self.flags)
        )
        return NonRecordingSpan(context)

    def trace_lines(self) -> bytes:
        """The trace context header lines for the upstream request."""
        if w3c.default_textmap():
            return b"traceparent: 00-%032x-%016x-%02x\r\n" % (
                self.trace_id,
                self.span_id,
                self.flags,
            )
        carrier: dict[str, str] = {}
        w3c.inject(carrier, self.span())
        return b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in carrier.items())


def _matched(request: Request) -> dict[str, str]:
    """What sampling rules match a new trace on (shared/telemetry/rules.py)."""
    return {"http.request.method": request.method, "url.path": request.path}


class ServerSpans:
    """Starts the SERVER span of each request (one per data plane)."""

    def __init__(self) -> None:
        self._textmap: object = None
        self._fields: tuple[bytes, ...] = ()
        self._provider: TracerProvider | None = None  # once an SDK one is set, it stays
        self._decide: Callable[[int], bool] | None = None  # the X-Ray sampler's root decision
        self._ids: IdGenerator | None = None  # None: the SDK's random generator
        self._flags = 0

    def start(self, request: Request, name: str) -> trace.Span | Dropped:
        """The request's SERVER span, or `Dropped` for a new trace the sampler does not keep."""
        parent = self.parent_of(request)
        if parent is ROOT:
            decide = self._decide if self._provider is not None else self._edge_sampler()
            if decide is not None:
                ids = self._ids  # None: RandomIdGenerator's ids (0 is invalid), without its calls
                trace_id = (_getrandbits(128) or 1) if ids is None else ids.generate_trace_id()
                if not decide(trace_id):
                    span_id = (_getrandbits(64) or 1) if ids is None else ids.generate_span_id()
                    return Dropped(trace_id, span_id, self._flags)
                return _tracer.start_span(
                    name,
                    context=ROOT,
                    kind=SpanKind.SERVER,
                    attributes={
                        PRESAMPLED: True,
                        "http.request.method": request.method,
                        "url.path": request.path,
                    },
                    record_exception=False,
                    set_status_on_exception=False,
                )
        return _tracer.start_span(
            name,
            context=parent,
            kind=SpanKind.SERVER,
            # A trace starts here: the sampling rules match on method and path. A request with
            # a parent follows the parent's decision, so it builds nothing for the sampler.
            attributes=_matched(request) if parent is ROOT else None,
            record_exception=False,
            set_status_on_exception=False,
        )

    def parent_of(self, request: Request) -> Context:
        """The remote parent, parsed only when a propagation header came: most requests have
        none."""
        textmap = propagate.get_global_textmap()
        if textmap is not self._textmap:  # the header names it reads, lower-cased
            self._fields = tuple(name.lower().encode() for name in textmap.fields)
            self._textmap = textmap
        index = request.index
        for name in self._fields:
            if name in index:
                return w3c.extract(request.headers)
        return ROOT

    def _edge_sampler(self) -> Callable[[int], bool] | None:
        """The provider's sampler when roots can be decided here: an SDK provider that is not
        disabled, with the X-Ray-style sampler (else None: the SDK decides)."""
        provider = trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):
            return None  # not set up yet (the API's proxy): ask again next time
        self._provider = provider
        sampler = provider.sampler
        enabled = isinstance(provider.get_tracer("shared.http"), Tracer)  # not OTEL_SDK_DISABLED
        if isinstance(sampler, XraySampler) and enabled:
            self._decide = sampler.roots.decide
            ids = provider.id_generator
            self._ids = None if type(ids) is RandomIdGenerator else ids
            self._flags = TraceFlags.RANDOM_TRACE_ID if ids.is_trace_id_random() else 0
        return self._decide
