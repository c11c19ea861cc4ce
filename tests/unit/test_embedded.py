"""The embedded servers' set-up: pinned versions, the tools check, generated secrets kept once."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from services.gateway.routing.table import expand_addresses
from shared.stack import ferretdb, kafka, secretsfile
from shared.stack.servers import EMBEDDED, MissingToolError, require_tools

pytestmark = pytest.mark.unit


def test_the_built_versions_are_the_pinned_ones() -> None:
    go_mod = (EMBEDDED / "ferretdb" / "go.mod").read_text()
    assert f"require github.com/FerretDB/FerretDB {ferretdb.VERSION}\n" in go_mod
    pom = (EMBEDDED / "kafka" / "pom.xml").read_text()
    assert f"<kafka.version>{kafka.VERSION}</kafka.version>" in pom
    # Kafka 4.x logs through SLF4J 1.7: the SLF4J 2 binding would silence the broker.
    assert "<artifactId>log4j-slf4j-impl</artifactId>" in pom
    assert "<artifactId>log4j-slf4j2-impl</artifactId>" not in pom


def test_missing_tools_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on it
    with pytest.raises(MissingToolError) as missing:
        require_tools()
    text = str(missing.value)
    for tool in ("go (Go 1.24 or newer)", "java (Java 17 or newer)", "mvn"):
        assert tool in text
    assert "MONGODB_URL and KAFKA_BOOTSTRAP_SERVERS" in text


def test_an_old_java_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    java = tmp_path / "java"
    java.write_text("#!/bin/sh\necho 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
    java.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingToolError, match=r"java 17 or newer to run Kafka \(found 11\)"):
        require_tools(go=False)


def test_secrets_are_generated_once_private_and_reused(tmp_path: Path) -> None:
    values, created = secretsfile.load_or_create(tmp_path, ["AUTH_JWT_SECRET", "ADMIN_TOKEN"])
    assert created == ["AUTH_JWT_SECRET", "ADMIN_TOKEN"]
    assert len(values["ADMIN_TOKEN"]) >= 32
    path = tmp_path / "secrets.env"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again, created_again = secretsfile.load_or_create(tmp_path, ["AUTH_JWT_SECRET", "ADMIN_TOKEN"])
    assert created_again == []
    assert again == values
    more, added = secretsfile.load_or_create(tmp_path, ["ADMIN_TOKEN", "NEW_KEY"])
    assert added == ["NEW_KEY"]
    assert more["ADMIN_TOKEN"] == values["ADMIN_TOKEN"]
    assert re.search(r"^NEW_KEY=\S+$", path.read_text(), re.M)


def test_route_files_take_addresses_from_the_environment_but_no_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WAITINGROOM_PORT", "18083")
    monkeypatch.setenv("ADMIN_TOKEN", "secret")
    text = "a: http://127.0.0.1:${WAITINGROOM_PORT:-8083}\nb: ${SHOP_PORT:-8084}\nc: ${ADMIN_TOKEN}"
    assert expand_addresses(text) == "a: http://127.0.0.1:18083\nb: 8084\nc: ${ADMIN_TOKEN}"
