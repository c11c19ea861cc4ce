"""Proof that PyMongo's *async* client is traced: CLIENT spans with db.* attributes, parented to
the caller's span, against a real wire-protocol mock server (MockupDB) rather than a mocked API.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mockupdb import MockupDB, OpMsg
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags, use_span
from pymongo import AsyncMongoClient

from shared.settings import PlatformSettings
from shared.telemetry import configure_telemetry, tracer

pytestmark = pytest.mark.unit


@pytest.fixture
def exporter(tmp_path: Path) -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    telemetry = configure_telemetry(
        "pymongo-test", PlatformSettings(spans_dir=tmp_path / "spans"), exporter=memory
    )
    yield memory
    telemetry.shutdown()


@pytest.fixture
def mongo_server() -> Iterator[MockupDB]:
    # maxWireVersion 21 = MongoDB 7.0: PyMongo refuses servers older than 4.2 (wire 9)
    server = MockupDB(auto_ismaster=True, max_wire_version=21)
    # a string spec would match {"insert": 1}; commands carry the collection name as value
    server.autoresponds({"insert": "orders"}, n=1)
    server.autoresponds(
        {"find": "orders"},
        cursor={"id": 0, "ns": "surge.orders", "firstBatch": [{"_id": 1, "sku": "a"}]},
    )
    server.append_responder(OpMsg)  # anything else (e.g. endSessions): plain ok, never a hang
    server.run()
    yield server
    server.stop()


async def test_async_mongo_client_commands_produce_client_spans(
    exporter: InMemorySpanExporter, mongo_server: MockupDB
) -> None:
    # The client is created after configure_telemetry: PyMongo copies global listeners then.
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        mongo_server.uri, serverSelectionTimeoutMS=5000, directConnection=True
    )
    try:
        with tracer("test").start_as_current_span("handle order") as parent:
            await client.surge.orders.insert_one({"sku": "a"})
            docs = await client.surge.orders.find({}).to_list()
    finally:
        await client.close()
    assert docs == [{"_id": 1, "sku": "a"}]

    spans = exporter.get_finished_spans()
    mongo = [s for s in spans if (s.attributes or {}).get("db.system") == "mongodb"]
    by_op = {str((s.attributes or {}).get("db.operation.name")): s for s in mongo}
    assert {"insert", "find"} <= set(by_op), [s.name for s in spans]
    parent_id = parent.get_span_context().span_id
    for op in ("insert", "find"):
        span = by_op[op]
        attrs = span.attributes or {}
        assert span.kind is SpanKind.CLIENT
        assert attrs["db.namespace"] == "surge"
        assert attrs["db.collection.name"] == "orders"
        assert attrs["server.address"] == "localhost"
        assert attrs["server.port"] == mongo_server.port
        assert span.parent is not None
        assert span.parent.span_id == parent_id
        assert span.context is not None
        assert span.context.trace_id == parent.get_span_context().trace_id


async def test_commands_outside_a_sampled_trace_get_no_span(
    exporter: InMemorySpanExporter, mongo_server: MockupDB
) -> None:
    """A database command never starts a trace (a sweep or a script is not a request), and in
    a sampled-out trace it makes no span object either."""
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        mongo_server.uri, serverSelectionTimeoutMS=5000, directConnection=True
    )
    try:
        await client.surge.orders.insert_one({"sku": "a"})  # no trace at all
        unsampled = NonRecordingSpan(
            SpanContext(trace_id=7, span_id=9, is_remote=True, trace_flags=TraceFlags(0))
        )
        with use_span(unsampled):
            await client.surge.orders.find({}).to_list()
        with tracer("test").start_as_current_span("sampled"):
            await client.surge.orders.find({}).to_list()
    finally:
        await client.close()
    mongo = [
        s
        for s in exporter.get_finished_spans()
        if (s.attributes or {}).get("db.system") == "mongodb"
    ]
    assert [(s.attributes or {}).get("db.operation.name") for s in mongo] == ["find"]
