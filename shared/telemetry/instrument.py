"""Library instrumentation: aiohttp client and PyMongo (sync and async clients).

PyMongo's instrumentation is a `monitoring.CommandListener` registered globally; PyMongo copies
the global listeners into every client it creates, `AsyncMongoClient` included, and publishes
command events from the task that runs the command, so spans get the caller's span as parent
(tests/unit/test_pymongo_spans.py proves it against a wire-protocol mock server).
Clients created *before* `configure_telemetry` are not traced: configure first, then connect.

The instrumentor still emits the older attribute names (`db.name`, `net.peer.name`); the request
hook adds the current semantic-convention names the `traces` command reads.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span
from pymongo import monitoring

log = logging.getLogger(__name__)


def mongo_request_hook(span: Span, event: monitoring.CommandStartedEvent) -> None:
    """Add db.namespace, db.operation.name, db.collection.name and server.* to a Mongo span."""
    if not span.is_recording():
        return
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
    span.set_attributes(attributes)


def instrument_libraries(provider: TracerProvider) -> None:
    """Instrument once per process; the instrumentors themselves refuse a second time."""
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor

    aiohttp_client: Any = AioHttpClientInstrumentor()
    if not aiohttp_client.is_instrumented_by_opentelemetry:
        aiohttp_client.instrument(tracer_provider=provider)
    pymongo: Any = PymongoInstrumentor()
    if not pymongo.is_instrumented_by_opentelemetry:
        pymongo.instrument(tracer_provider=provider, request_hook=mongo_request_hook)
    log.debug("instrumented aiohttp client and pymongo")
