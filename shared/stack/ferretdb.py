"""The embedded document store: FerretDB 1.x (MongoDB wire protocol) on SQLite.

`deploy/embedded/ferretdb` is a small Go program around FerretDB's embeddable package; it is
built once into the checkout's `.run/bin/ferretdb-<version>` (Go's module and build caches live
outside the work tree, so a fresh clone on a used machine rebuilds in seconds).

    binary = ensure_binary()
    server = FerretDB.start(binary, data_dir=Path(".run/data/ferretdb"), port=27017)
    server.url          # mongodb://127.0.0.1:27017/
    server.stop()
"""

from __future__ import annotations

import os
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

VERSION = "v1.24.2"  # the version deploy/embedded/ferretdb/go.mod pins (a test checks)
SOURCE = EMBEDDED / "ferretdb"


def binary_path(build_dir: Path = BUILD_DIR) -> Path:
    return build_dir.resolve() / "bin" / f"ferretdb-{VERSION}"


def ensure_binary(build_dir: Path = BUILD_DIR) -> Path:
    """Build the FerretDB program unless this version is already built."""
    target = binary_path(build_dir)
    if target.exists():
        return target
    require_tools(go=True, java=False)
    with build_lock(target.parent, "ferretdb"):
        if not target.exists():  # built by whoever held the lock before us
            partial = target.with_suffix(".partial")
            run_build(
                ["go", "build", "-trimpath", "-o", str(partial), "."],
                cwd=SOURCE,
                what=f"building FerretDB {VERSION}",
                env={"CGO_ENABLED": os.environ.get("CGO_ENABLED", "0")},
            )
            partial.rename(target)
    return target


@dataclass
class FerretDB:
    server: ServerProcess
    binary: Path
    data_dir: Path

    @property
    def url(self) -> str:
        return f"mongodb://{self.server.address}/"

    @classmethod
    def start(
        cls,
        binary: Path,
        *,
        data_dir: Path,
        port: int | None = None,
        log: Path | None = None,
        log_level: str = "error",
    ) -> FerretDB:
        port = port or free_port()
        data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            str(binary),
            "-listen",
            f"127.0.0.1:{port}",
            "-data",
            str(data_dir.resolve()),
            "-log-level",
            log_level,
        ]
        server = ServerProcess.spawn("ferretdb", command, port=port, log=log)
        return cls(server, binary, data_dir)

    def restart(self, *, log: Path | None = None) -> FerretDB:
        """Start again on the same port and data (after `stop` or `server.kill`)."""
        return FerretDB.start(
            self.binary,
            data_dir=self.data_dir,
            port=self.server.port,
            log=log,
        )

    def stop(self) -> None:
        self.server.stop()
