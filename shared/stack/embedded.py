"""Build what the embedded servers need, once: FerretDB's binary and Kafka's jars.

    python -m shared.stack.embedded     # `make embedded`, run by `make run` and `make test`

Both are built side by side (the FerretDB build is CPU, the jar copy mostly network) and
skipped when this version is already in place.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from shared.stack import ferretdb, kafka
from shared.stack.servers import MissingToolError, require_tools


@dataclass(frozen=True)
class Prepared:
    ferretdb_binary: Path | None
    kafka_libs: Path | None


async def prepare(*, store: bool = True, broker: bool = True) -> Prepared:
    require_tools(go=store, java=broker)
    binary = asyncio.to_thread(ferretdb.ensure_binary) if store else None
    libs = asyncio.to_thread(kafka.ensure_jars) if broker else None
    built_binary = await binary if binary is not None else None
    built_libs = await libs if libs is not None else None
    return Prepared(built_binary, built_libs)


def main() -> None:
    fresh = not ferretdb.binary_path().exists() or not kafka.libs_path().exists()
    started = time.monotonic()
    if fresh:
        print(
            f"preparing the embedded servers (once): FerretDB {ferretdb.VERSION}, "
            f"Kafka {kafka.VERSION}",
            flush=True,
        )
    try:
        asyncio.run(prepare())
    except MissingToolError as missing:
        print(f"error: {missing}", file=sys.stderr)
        sys.exit(2)
    if fresh:
        print(f"embedded servers ready in {time.monotonic() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
