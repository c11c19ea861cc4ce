"""Library instrumentation: the aiohttp client, and PyMongo's commands (sync and async clients).

PyMongo reports commands to `monitoring.CommandListener`s registered globally; PyMongo copies
the global listeners into every client it creates, `AsyncMongoClient` included, and publishes
command events from the task that runs the command, so a listener sees the caller's span as the
current one (tests/unit/test_pymongo_spans.py proves it against a wire-protocol mock server).
Clients created *before* `configure_telemetry` are not traced: configure first, then connect.

`MongoSpans` is our listener rather than opentelemetry-instrumentation-pymongo's: a command is
never where a trace starts, so a command outside a sampled trace gets no span object at all. The
instrumentor started a root span for every command outside a trace (a TTL sweep, a bench loop),
sampled like a request, and cost ~70 µs of CPU per command on FerretDB (bench/store.py).
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from pymongo import monitoring
from yarl import URL

log = logging.getLogger(__name__)


class MongoSpans(monitoring.CommandListener):
    """A CLIENT span per command inside a recording span, named `<db>.<command>`, with the
    current semantic-convention attributes (`db.system`, `db.namespace`, `db.operation.name`,
    `db.collection.name`, `server.address`, `server.port`)."""

    def __init__(self, provider: TracerProvider) -> None:
        self._tracer = provider.get_tracer("surge.pymongo")
        self._open: dict[tuple[int, Any], Span] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if not trace.get_current_span().is_recording():
            return  # outside a sampled trace: the span would be dropped, so make none
        attributes: dict[str, Any] = {
            "db.system": "mongodb",
            "db.namespace": event.database_name,
            "db.operation.name": event.command_name,
        }
        collection = event.command.get(event.command_name)
        if isinstance(collection, str):
            attributes["db.collection.name"] = collection
        if event.connection_id is not None:
            host, port = event.connection_id
            attributes["server.address"] = str(host)
            if port is not None:
                attributes["server.port"] = int(port)
        span = self._tracer.start_span(
            f"{event.database_name}.{event.command_name}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )
        self._open[(event.request_id, event.connection_id)] = span

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        span = self._open.pop((event.request_id, event.connection_id), None)
        if span is not None:
            span.end()

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        span = self._open.pop((event.request_id, event.connection_id), None)
        if span is not None:
            span.set_status(Status(StatusCode.ERROR, str(event.failure.get("errmsg", ""))))
            span.end()


def url_without_secrets(url: URL) -> str:
    """The URL a client span records: no user info, no query string (tokens, emails and
    signatures travel there), no fragment."""
    return str(url.with_user(None).with_password(None).with_query(None).with_fragment(None))


_mongo_listener: MongoSpans | None = None


def instrument_libraries(provider: TracerProvider) -> None:
    """Instrument once per process."""
    global _mongo_listener
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor

    aiohttp_client: Any = AioHttpClientInstrumentor()
    if not aiohttp_client.is_instrumented_by_opentelemetry:
        aiohttp_client.instrument(tracer_provider=provider, url_filter=url_without_secrets)
    if _mongo_listener is None:
        _mongo_listener = MongoSpans(provider)
        monitoring.register(_mongo_listener)
    log.debug("instrumented aiohttp client and pymongo")
