"""What the embedded servers (FerretDB, Kafka) have in common: the tools they are built with, a
process started in its own session that dies with its parent, a wait until it listens, and a
lock so two processes (two test sessions, `make run` and a test) never build one thing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from shared.stack.orphans import die_with_parent

REPO = Path(__file__).resolve().parents[2]
EMBEDDED = REPO / "deploy" / "embedded"
# Built servers live in the checkout's .run/ whatever STACK_RUN_DIR says (that one holds a
# run's data and logs), so a test stack in a temporary directory never builds them again.
BUILD_DIR = REPO / ".run"
MIN_JAVA = 17


class MissingToolError(RuntimeError):
    """A tool needed to build an embedded server is not installed (the message names it)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def missing_tools(*, go: bool = True, java: bool = True) -> list[str]:
    """What is missing to build and run the embedded servers, one line per tool."""
    missing = []
    if go and shutil.which("go") is None:
        missing.append("go (Go 1.24 or newer) to build FerretDB")
    if java:
        version = java_major()
        if version is None:
            missing.append(f"java (Java {MIN_JAVA} or newer) to run Kafka")
        elif version < MIN_JAVA:
            missing.append(f"java {MIN_JAVA} or newer to run Kafka (found {version})")
        if shutil.which("mvn") is None:
            missing.append("mvn (Apache Maven) to fetch Kafka's jars")
    return missing


def require_tools(*, go: bool = True, java: bool = True) -> None:
    if missing := missing_tools(go=go, java=java):
        lines = "\n  ".join(missing)
        raise MissingToolError(
            f"the embedded servers need:\n  {lines}\n"
            "or point MONGODB_URL and KAFKA_BOOTSTRAP_SERVERS at running servers"
        )


def java_major() -> int | None:
    java = shutil.which("java")
    if java is None:
        return None
    done = subprocess.run(  # noqa: S603
        [java, "-version"], capture_output=True, text=True, check=False
    )
    found = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if found is None:
        return None
    major = int(found.group(1))
    # "1.8.0" is Java 8
    return int(found.group(2) or 0) if major == 1 else major


@contextlib.contextmanager
def build_lock(directory: Path, name: str) -> Iterator[None]:
    """An exclusive lock file in `directory` held while a build runs."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_build(
    command: list[str], *, cwd: Path, what: str, env: dict[str, str] | None = None
) -> None:
    done = subprocess.run(  # noqa: S603
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()[-30:]
        raise RuntimeError(f"{what} failed ({' '.join(command)}):\n" + "\n".join(output))


def accepting(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class ServerProcess:
    """A running embedded server: its own session (a terminal's Ctrl-C reaches only the stack
    runner, which stops the services first and the servers last) and PR_SET_PDEATHSIG."""

    name: str
    host: str
    port: int
    process: subprocess.Popen[bytes]

    @classmethod
    def spawn(
        cls,
        name: str,
        command: list[str],
        *,
        port: int,
        log: Path | None,
        host: str = "127.0.0.1",
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        within: float = 60.0,
    ) -> ServerProcess:
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
        out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
        try:
            process = subprocess.Popen(  # noqa: S603
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent,
                env={**os.environ, **(env or {})},
                cwd=cwd,
            )
        finally:
            if log is not None:
                out.close()  # type: ignore[union-attr]
        server = cls(name, host, port, process)
        server.wait_listening(within, log)
        return server

    def wait_listening(self, within: float, log: Path | None = None) -> None:
        deadline = time.monotonic() + within
        while not accepting(self.host, self.port):
            if self.process.poll() is not None:
                tail = _tail(log)
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode} before listening{tail}"
                )
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"{self.name} did not listen on {self.address} in {within} s")
            time.sleep(0.05)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (the server flushes and closes its files), SIGKILL after `timeout`."""
        if self.process.poll() is None:
            self.resume()  # a frozen process cannot act on SIGTERM
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def freeze(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)

    async def astop(self, grace: float = 15.0) -> None:
        await asyncio.to_thread(self.stop, grace)


def _tail(log: Path | None, lines: int = 20) -> str:
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace").strip().splitlines()[-lines:]
    return ":\n" + "\n".join(text) if text else ""
