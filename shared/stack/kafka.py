"""The embedded broker: Apache Kafka 4.x, one combined broker/controller node in KRaft mode.

Its jars come from Maven Central (`deploy/embedded/kafka/pom.xml`), copied once under the
checkout's `.run/kafka/libs-<version>`. The cluster id is generated once and kept beside the
data, and the storage is formatted once, so a restart keeps every topic, record and committed
offset.

    libs = ensure_jars()
    broker = KafkaBroker.start(libs, data_dir=Path(".run/data/kafka"), port=9092)
    broker.bootstrap    # 127.0.0.1:9092
    broker.stop()
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from shared.stack.servers import (
    BUILD_DIR,
    EMBEDDED,
    ServerProcess,
    build_lock,
    free_port,
    require_tools,
    run_build,
)

VERSION = "4.1.1"  # the version deploy/embedded/kafka/pom.xml pins (a test checks)
SOURCE = EMBEDDED / "kafka"
LOG_CONFIG = SOURCE / "log4j2.properties"
HEAP = ("-Xms256m", "-Xmx512m")

# What the project's single node needs beyond Kafka's defaults (see docs/architecture.md):
# internal topics with one replica, fast group joins and failover, topics declared by the
# services (never created by a typo), and a bound on disk.
BROKER_SETTINGS: dict[str, str] = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.listener.names": "CONTROLLER",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "inter.broker.listener.name": "PLAINTEXT",
    "num.partitions": "1",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "4",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "4",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "min.insync.replicas": "1",
    "group.initial.rebalance.delay.ms": "0",
    "group.min.session.timeout.ms": "1000",
    "auto.create.topics.enable": "false",
    # Per partition: 256 MiB in 64 MiB segments, so a day of `make run` cannot fill the disk.
    "log.retention.bytes": str(256 * 1024 * 1024),
    "log.segment.bytes": str(64 * 1024 * 1024),
    "log.retention.check.interval.ms": "60000",
}


def libs_path(build_dir: Path = BUILD_DIR) -> Path:
    return build_dir.resolve() / "kafka" / f"libs-{VERSION}"


def ensure_jars(build_dir: Path = BUILD_DIR) -> Path:
    """Copy Kafka's jars from Maven (cached in ~/.m2) unless this version is already here."""
    target = libs_path(build_dir)
    if (target / ".complete").exists():
        return target
    require_tools(go=False, java=True)
    with build_lock(target.parent, "kafka"):
        if not (target / ".complete").exists():
            shutil.rmtree(target, ignore_errors=True)
            run_build(
                [
                    "mvn",
                    "-q",
                    "-B",
                    "-f",
                    str(SOURCE / "pom.xml"),
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={target}",
                ],
                cwd=SOURCE,
                what=f"fetching Kafka {VERSION}",
            )
            (target / ".complete").touch()
    return target


def _java(libs: Path, main: str, *args: str, heap: tuple[str, ...] = ()) -> list[str]:
    return [
        "java",
        *heap,
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={LOG_CONFIG}",
        "-cp",
        f"{libs}/*",
        main,
        *args,
    ]


@dataclass
class KafkaBroker:
    server: ServerProcess
    libs: Path
    data_dir: Path
    controller_port: int

    @property
    def bootstrap(self) -> str:
        return self.server.address

    @classmethod
    def start(
        cls,
        libs: Path,
        *,
        data_dir: Path,
        port: int | None = None,
        controller_port: int | None = None,
        log: Path | None = None,
        extra: dict[str, str] | None = None,
    ) -> KafkaBroker:
        port = port or free_port()
        controller_port = controller_port or free_port()
        data_dir = data_dir.resolve()
        config = _write_config(data_dir, port, controller_port, extra or {})
        _format_once(libs, data_dir, config)
        command = _java(libs, "kafka.Kafka", str(config), heap=HEAP)
        server = ServerProcess.spawn("kafka", command, port=port, log=log, within=90.0)
        return cls(server, libs, data_dir, controller_port)

    def restart(self, *, log: Path | None = None) -> KafkaBroker:
        """Start again with the same ports and data (after `stop` or `server.kill`)."""
        return KafkaBroker.start(
            self.libs,
            data_dir=self.data_dir,
            port=self.server.port,
            controller_port=self.controller_port,
            log=log,
        )

    def stop(self) -> None:
        self.server.stop(timeout=30.0)


def _write_config(data_dir: Path, port: int, controller_port: int, extra: dict[str, str]) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = {
        **BROKER_SETTINGS,
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "log.dirs": str(data_dir / "log"),
        **extra,
    }
    config = data_dir / "server.properties"
    config.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
    return config


def _format_once(libs: Path, data_dir: Path, config: Path) -> None:
    """Generate the cluster id once (kept beside the data) and format the storage once."""
    id_file = data_dir / "cluster-id"
    if not id_file.exists():
        done = subprocess.run(  # noqa: S603
            _java(libs, "kafka.tools.StorageTool", "random-uuid"),
            capture_output=True,
            text=True,
            check=True,
        )
        id_file.write_text(done.stdout.strip().splitlines()[-1] + "\n")
    if (data_dir / "log" / "meta.properties").exists():
        return  # formatted by an earlier start (spares a JVM start)
    cluster_id = id_file.read_text().strip()
    run_build(
        _java(
            libs,
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            cluster_id,
            "--config",
            str(config),
            "--ignore-formatted",
        ),
        cwd=data_dir,
        what="formatting Kafka's storage",
    )
