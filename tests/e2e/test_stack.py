"""The local stack as `make run` starts it: FerretDB, Kafka and every service healthy and ready,
secrets kept in the run directory, forged identities refused on every service's own port, then
a clean stop with no process left."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from shared.security.identity import IdentityKeys
from shared.stack import secretsfile
from shared.stack.registry import SERVICES
from tests.identity_support import forgeries, signed
from tests.stack_support import Stack, stack_environment, stack_ports

pytestmark = pytest.mark.e2e


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid:
            found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code


def _get(url: str, headers: dict[str, str]) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


def _forged_identities_are_refused_on_every_service_port(
    ports: dict[str, str], keys: IdentityKeys
) -> None:
    """Straight to each service's own ports, past the gateway: whatever claims to say who is
    calling is refused (401 problem+json) unless the platform's keys signed it for that very
    service; signed for it, the same request passes the check (whatever it answers then)."""
    for entry in SERVICES:
        if entry.name == "gateway":  # the edge: it authenticates clients itself
            continue
        names = [entry.port_env, *(n for n in entry.extra_ports if n.endswith("_WS_PORT"))]
        for name in names:
            url = f"http://127.0.0.1:{ports[name]}/"
            for case, headers in forgeries(entry.name, keys).items():
                status, content_type, body = _get(url, headers)
                assert status == 401, (entry.name, name, case, status, body[:300])
                assert content_type.startswith("application/problem+json"), (name, case)
                assert json.loads(body)["reason"].startswith("identity_"), (name, case, body)
            valid = signed(entry.name, "jwt", "admin", keys=keys)
            assert _get(url, valid)[0] != 401, (entry.name, name)


def test_stack_starts_healthy_and_stops_cleanly(tmp_path: Path) -> None:
    ports = stack_ports()
    stack = Stack.start(stack_environment(tmp_path, ports))
    try:
        banner = stack.banner
        assert "ADMIN_TOKEN=" in banner
        assert "AUTH_JWT_SECRET=" in banner
        assert f"127.0.0.1:{ports['STACK_KAFKA_PORT']}" in banner
        assert f"mongodb://127.0.0.1:{ports['STACK_FERRETDB_PORT']}/" in banner
        for entry in SERVICES:
            port = ports[entry.port_env]
            assert _status(f"http://127.0.0.1:{port}/healthz") == 200, entry.name
            assert _status(f"http://127.0.0.1:{port}/readyz") == 200, entry.name
        secrets = tmp_path / "secrets.env"
        assert secrets.stat().st_mode & 0o777 == 0o600
        assert "ADMIN_TOKEN=" in secrets.read_text()
        keys = secretsfile.read(secrets)["IDENTITY_KEYS"]
        assert keys not in banner  # generated and kept, never printed
        _forged_identities_are_refused_on_every_service_port(ports, IdentityKeys.parse(keys))
        children = _children(stack.process.pid)
        assert len(children) >= len(SERVICES) + 2  # every service, the broker and the store
        rest = stack.stop()
        assert stack.process.returncode == 0, stack.banner[-3000:]
        assert not [pid for pid in children if _alive(pid)]
        assert "[stack] stopped" in rest
    finally:
        stack.kill()
