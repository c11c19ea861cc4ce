"""Process-wide OpenTelemetry set-up: tracer provider, exporters, propagators, instrumentation.

The standard `OTEL_*` variables keep their meaning because the SDK reads them itself:
`OTEL_SDK_DISABLED`, `OTEL_TRACES_SAMPLER(_ARG)`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_*`,
`OTEL_EXPORTER_OTLP_*`. We only decide *where* spans go: OTLP/HTTP when an endpoint is set
(the SDK's BatchSpanProcessor), otherwise the local JSONL span file that the `traces` command
reads, written by our own processor (filexport.JsonlFileSpanProcessor, which keeps the GIL
free for the event loop), to which this module applies OTEL_BSP_SCHEDULE_DELAY,
OTEL_BSP_MAX_QUEUE_SIZE and OTEL_BSP_MAX_EXPORT_BATCH_SIZE.

OpenTelemetry's global tracer provider can be set once per process and instrumentations bind to
it at instrument time, so the provider is built once; later calls return the same `Telemetry`.
A test that passes `exporter=` swaps the span destination (one processor that can be re-pointed)
instead of building a second provider. The service name is fixed by the first call.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field

from opentelemetry import metrics, propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.settings import PlatformSettings
from shared.telemetry import rules, sampling
from shared.telemetry.filexport import JsonlFileSpanExporter, JsonlFileSpanProcessor
from shared.telemetry.instrument import instrument_libraries

log = logging.getLogger(__name__)

# The span file is read by people and tests while the stack runs; 5 s (the SDK default) feels
# stuck, so flush it every half second unless OTEL_BSP_SCHEDULE_DELAY says otherwise.
_FILE_FLUSH_MILLIS = 500.0


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def otlp_enabled(signal: str) -> bool:
    """True when an OTLP endpoint is set for `signal` (TRACES, METRICS) or for all signals."""
    return bool(
        _env(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT") or _env("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def select_span_exporter(platform: PlatformSettings, service: str) -> SpanExporter | None:
    """OTLP/HTTP when an endpoint is set, else this process's span file in SPANS_DIR; None if
    OTEL_TRACES_EXPORTER=none."""
    if _env("OTEL_TRACES_EXPORTER").lower() == "none":
        return None
    if otlp_enabled("TRACES"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()  # endpoint, headers, timeout, compression from OTEL_* env
    return JsonlFileSpanExporter.per_process(
        platform.spans_dir,
        service,
        max_bytes=platform.spans_file_max_bytes,
        keep=platform.spans_file_keep,
    )


def build_tracer_provider(service: str, platform: PlatformSettings) -> TracerProvider:
    """Sampler and OTEL_SDK_DISABLED come from the environment: X-Ray-shaped rules from
    OTEL_SAMPLING_RULES_FILE (shared.telemetry.rules) when set, else the SDK's own samplers plus
    `surge_xray` (shared.telemetry.sampling), which a bare TracerProvider cannot look up."""
    resource = Resource.create({"service.name": service})
    sampler = None
    if platform.otel_sampling_rules_file is not None:
        sampler = rules.rules_sampler(platform.otel_sampling_rules_file, service)
    elif _env("OTEL_TRACES_SAMPLER").lower() == sampling.NAME:
        sampler = sampling.xray_sampler(_env("OTEL_TRACES_SAMPLER_ARG"))
    if platform.otel_xray_ids:
        # X-Ray ids carry the start epoch in the first 32 bits, so X-Ray accepts our trace ids.
        from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator

        return TracerProvider(resource=resource, sampler=sampler, id_generator=AwsXRayIdGenerator())
    return TracerProvider(resource=resource, sampler=sampler)


def build_propagator(platform: PlatformSettings) -> CompositePropagator:
    """W3C tracecontext + baggage, plus the X-Amzn-Trace-Id header when X-Ray ids are on."""
    propagators = [TraceContextTextMapPropagator(), W3CBaggagePropagator()]
    if platform.otel_xray_ids:
        from opentelemetry.propagators.aws import AwsXRayPropagator

        propagators.append(AwsXRayPropagator())
    return CompositePropagator(propagators)


class SwappableSpanProcessor(SpanProcessor):
    """Delegates to one inner processor that can be replaced (old one flushed and shut down)."""

    def __init__(self, inner: SpanProcessor | None) -> None:
        self._inner = inner
        self._lock = threading.Lock()

    def swap(self, inner: SpanProcessor | None) -> None:
        with self._lock:
            old, self._inner = self._inner, inner
        if old is not None:
            old.shutdown()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if (inner := self._inner) is not None:
            inner.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if (inner := self._inner) is not None:
            inner.on_end(span)

    def shutdown(self) -> None:
        self.swap(None)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        inner = self._inner
        return True if inner is None else inner.force_flush(timeout_millis)


def _processor_for(exporter: SpanExporter | None, *, batch: bool) -> SpanProcessor | None:
    if exporter is None:
        return None
    if not batch:
        return SimpleSpanProcessor(exporter)
    if isinstance(exporter, JsonlFileSpanExporter):
        # Spans encoded as they end, the file written by a thread that barely needs the GIL
        # (see filexport); the SDK's batching variables keep their meaning.
        return JsonlFileSpanProcessor(
            exporter,
            schedule_delay_millis=_env_number("OTEL_BSP_SCHEDULE_DELAY", _FILE_FLUSH_MILLIS),
            max_queue_size=int(_env_number("OTEL_BSP_MAX_QUEUE_SIZE", 2048)),
            max_export_batch_size=int(_env_number("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512)),
        )
    return BatchSpanProcessor(exporter)  # OTLP: the SDK's batching, defaults from OTEL_BSP_*


def _env_number(name: str, default: float) -> float:
    """A positive number from the environment; a bad value is logged and the default kept
    (as the SDK treats its OTEL_BSP_* variables)."""
    text = _env(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        log.warning("ignoring %s=%r: not a positive number", name, text)
        return default
    return value


@dataclass
class Telemetry:
    """What `configure_telemetry` set up; `shutdown()` flushes pending spans and metrics."""

    service: str
    tracer_provider: TracerProvider
    processor: SwappableSpanProcessor
    exporter: SpanExporter | None
    meter_provider: MeterProvider | None = None
    _closed: bool = field(default=False, repr=False)

    def force_flush(self, timeout_millis: int = 10000) -> bool:
        ok = self.tracer_provider.force_flush(timeout_millis)
        if self.meter_provider is not None:
            ok = self.meter_provider.force_flush(timeout_millis) and ok
        return ok

    def shutdown(self) -> None:
        """Flush and stop exporting; a later `configure_telemetry` call re-attaches an exporter."""
        if self._closed:
            return
        self._closed = True
        self.processor.swap(None)
        if self.meter_provider is not None:
            self.meter_provider.shutdown()


_state: Telemetry | None = None
_state_lock = threading.Lock()


def configure_telemetry(
    service: str, platform: PlatformSettings | None = None, *, exporter: SpanExporter | None = None
) -> Telemetry:
    """Configure tracing (and OTLP metrics) once per process; `exporter=` is for tests."""
    global _state
    platform = platform or PlatformSettings()
    with _state_lock:
        state = _state
        if state is not None:
            if state.service != service:
                log.warning("telemetry already configured for %r, not %r", state.service, service)
            if exporter is not None or state._closed:
                chosen = exporter or select_span_exporter(platform, state.service)
                state.processor.swap(_processor_for(chosen, batch=exporter is None))
                state.exporter, state._closed = chosen, False
            return state

        provider = build_tracer_provider(service, platform)
        chosen = exporter if exporter is not None else select_span_exporter(platform, service)
        processor = SwappableSpanProcessor(_processor_for(chosen, batch=exporter is None))
        provider.add_span_processor(processor)
        trace.set_tracer_provider(provider)
        propagate.set_global_textmap(build_propagator(platform))
        meter_provider = _configure_metrics(provider.resource) if otlp_enabled("METRICS") else None
        instrument_libraries(provider)
        _state = Telemetry(service, provider, processor, chosen, meter_provider)
    kind = type(chosen).__name__ if chosen else None
    log.info("telemetry configured", extra={"exporter": kind, "xray": platform.otel_xray_ids})
    return _state


def _configure_metrics(resource: Resource) -> MeterProvider:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    reader = PeriodicExportingMetricReader(OTLPMetricExporter())
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    metrics.set_meter_provider(provider)
    return provider


def tracer(name: str) -> trace.Tracer:
    """A tracer from the global provider (a proxy until `configure_telemetry` runs)."""
    return trace.get_tracer(name)
