"""Fixtures shared by every test layer.

`tansu` is a real Kafka-protocol broker (memory storage) on a free port, one per test session;
tests isolate themselves with unique topic and group names (`unique`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.settings import PlatformSettings
from shared.stack.tansu import Tansu
from shared.telemetry import configure_telemetry


@pytest.fixture(scope="session")
def tansu() -> Iterator[Tansu]:
    broker = Tansu.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def unique() -> str:
    """A short random suffix for topic and group names, so tests never share state."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def kafka_env(tansu: Tansu, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point PlatformSettings at the test broker (idempotence off: tansu rejects it)."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", tansu.bootstrap)
    monkeypatch.setenv("KAFKA_ENABLE_IDEMPOTENCE", "false")
    return tansu.bootstrap


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Spans finished during the test, in memory (OpenTelemetry configured for this process)."""
    exporter = InMemorySpanExporter()
    configure_telemetry("tests", PlatformSettings(), exporter=exporter)
    yield exporter
    exporter.clear()
