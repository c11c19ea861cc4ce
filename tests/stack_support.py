"""The local stack as `make run` starts it (`python -m shared.stack.runner`), on free ports, with
its own run directory: embedded FerretDB and Kafka, every registered service."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from shared.stack.registry import SERVICES
from shared.stack.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
BANNER_END = "Ctrl-C stops everything"


def stack_ports() -> dict[str, str]:
    """A free port for every port variable the stack reads."""
    env = {
        "STACK_KAFKA_PORT": str(free_port()),
        "STACK_KAFKA_CONTROLLER_PORT": str(free_port()),
        "STACK_FERRETDB_PORT": str(free_port()),
    }
    for entry in SERVICES:
        env[entry.port_env] = str(free_port())
        if entry.admin_port_env:
            env[entry.admin_port_env] = str(free_port())
        for name in entry.extra_ports:
            env[name] = str(free_port())
    return env


def stack_environment(run_dir: Path, ports: dict[str, str]) -> dict[str, str]:
    """The test process's environment minus what would make the runner use other servers or
    secrets: the stack starts its own FerretDB and Kafka, and keeps its secrets in `run_dir`."""
    env = {**os.environ, **ports, "STACK_RUN_DIR": str(run_dir)}
    for name in (
        "MONGODB_URL",
        "MONGODB_DATABASE",
        "KAFKA_BOOTSTRAP_SERVERS",
        "AUTH_JWT_SECRET",
        "ADMIN_TOKEN",
        "IDENTITY_KEYS",
        "SPANS_DIR",
    ):
        env.pop(name, None)
    return env


@dataclass
class Stack:
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, env: dict[str, str], within: float = 180.0) -> Stack:
        process = subprocess.Popen(
            [sys.executable, "-m", "shared.stack.runner"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        stack = cls(process)
        assert process.stdout is not None
        deadline = time.monotonic() + within
        for line in process.stdout:
            stack.output.append(line)
            if BANNER_END in line or time.monotonic() > deadline:
                break
        if "Surge is up" not in stack.banner:
            stack.kill()
            failures = [line for line in stack.output if '"INFO"' not in line]
            raise AssertionError("the stack did not start:\n" + "".join(failures[-40:]))
        return stack

    @property
    def banner(self) -> str:
        return "".join(self.output)

    def stop(self, within: float = 90.0) -> str:
        """Ctrl-C, as a terminal sends it; returns what the stack printed after the banner."""
        self.process.send_signal(signal.SIGINT)
        rest, _ = self.process.communicate(timeout=within)
        self.output.append(rest)
        return rest

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            rest, _ = self.process.communicate()
            self.output.append(rest)
