"""Fixtures shared by every test layer: the real servers the platform runs on.

- `kafka`: an Apache Kafka broker (KRaft, the embedded one `make run` uses), one per test
  session on free ports; tests isolate themselves with unique topic and group names (`unique`).
- `ferretdb`: a FerretDB server (MongoDB wire protocol on SQLite), one per test session;
  every test gets its own database in `MONGODB_URL` / `MONGODB_DATABASE`, and `store` opened
  on it; the database is dropped after the test.

With `MONGODB_URL` / `KAFKA_BOOTSTRAP_SERVERS` set (say, a real MongoDB), the tests use those
servers instead and start neither embedded one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.settings import PlatformSettings
from shared.stack import ferretdb as ferretdb_server
from shared.stack import kafka as kafka_server
from shared.store import Store, connect
from shared.telemetry import configure_telemetry
from tests.identity_support import IDENTITY_KEYS

EXTERNAL_MONGODB = os.environ.get("MONGODB_URL")
EXTERNAL_KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")


@dataclass(frozen=True)
class Broker:
    """Where the test broker listens, and the embedded broker itself (None when external)."""

    bootstrap: str
    embedded: kafka_server.KafkaBroker | None


@dataclass(frozen=True)
class DocumentServer:
    url: str
    embedded: ferretdb_server.FerretDB | None


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    if EXTERNAL_KAFKA:
        yield Broker(EXTERNAL_KAFKA, None)
        return
    libs = kafka_server.ensure_jars()
    data = tmp_path_factory.mktemp("kafka")
    broker = kafka_server.KafkaBroker.start(libs, data_dir=data, log=data / "kafka.log")
    try:
        yield Broker(broker.bootstrap, broker)
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def ferretdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DocumentServer]:
    if EXTERNAL_MONGODB:
        yield DocumentServer(EXTERNAL_MONGODB, None)
        return
    binary = ferretdb_server.ensure_binary()
    data = tmp_path_factory.mktemp("ferretdb")
    server = ferretdb_server.FerretDB.start(binary, data_dir=data, log=data / "ferretdb.log")
    try:
        yield DocumentServer(server.url, server)
    finally:
        server.stop()


@pytest.fixture
def unique() -> str:
    """A short random suffix for topic and group names, so tests never share state."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def kafka_env(kafka: Broker, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point PlatformSettings at the test broker."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrap)
    return kafka.bootstrap


@pytest.fixture
def database_name() -> str:
    """A database of this test's own (FerretDB keeps each in its own SQLite file)."""
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def store(mongodb_env: str, database_name: str) -> AsyncIterator[Store]:
    opened = connect(mongodb_env, database_name, service="tests")
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def mongodb_env(
    ferretdb: DocumentServer, database_name: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[str]:
    """Point PlatformSettings (MONGODB_URL, MONGODB_DATABASE) at this test's database."""
    monkeypatch.setenv("MONGODB_URL", ferretdb.url)
    monkeypatch.setenv("MONGODB_DATABASE", database_name)
    yield ferretdb.url
    dropper = connect(ferretdb.url, database_name, service="tests")
    try:
        await dropper.client.drop_database(database_name)
    finally:
        await dropper.close()


@pytest.fixture(scope="session", autouse=True)
def _identity_keys() -> Iterator[None]:
    """Every service built in a test verifies callers with the keys tests sign with
    (tests/identity_support.py), as every service of one deployment shares IDENTITY_KEYS."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("IDENTITY_KEYS", IDENTITY_KEYS)
        yield


@pytest.fixture(autouse=True)
def _platform_store(mongodb_env: str) -> None:
    """Every test runs as a service does under `make run`: MONGODB_URL names a real server (the
    session's FerretDB), with a database of the test's own. A test that builds a service's app
    therefore stores in FerretDB, never in a stand-in."""


@pytest.fixture
def platform_env(kafka_env: str, mongodb_env: str) -> PlatformSettings:
    """Both real servers in the environment, as `make run` sets them for a service."""
    return PlatformSettings()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Spans finished during the test, in memory (OpenTelemetry configured for this process)."""
    exporter = InMemorySpanExporter()
    configure_telemetry("tests", PlatformSettings(), exporter=exporter)
    yield exporter
    exporter.clear()
