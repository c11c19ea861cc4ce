"""The ceiling of our stack for a pixel: a bare aiohttp + uvloop server answering the same 43-byte
GIF with the same headers, doing no work.

    python bench/baselines/aiohttp_gif.py --port P [--workers N]

No middleware, validation, enrichment, Kafka, tracing, metrics or logging: what the collector
is built from, minus everything it adds. `bench/ingest.py` starts it in its own process group.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Sequence

from aiohttp import web

WORKER_ENV = "BARE_GIF_WORKER"
GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
HEADERS = {"Cache-Control": "no-store, max-age=0", "X-Content-Type-Options": "nosniff"}


async def pixel(_: web.Request) -> web.Response:
    return web.Response(body=GIF, content_type="image/gif", headers=HEADERS)


async def serve(port: int) -> None:
    app = web.Application()
    app.router.add_get("/t/p.gif", pixel)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, reuse_port=True, backlog=2048)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    opts = parser.parse_args(argv)
    if opts.workers > 1 and os.environ.get(WORKER_ENV) is None:
        env = {**os.environ, WORKER_ENV: "1"}
        children = [
            subprocess.Popen([sys.executable, *sys.argv], env=env) for _ in range(opts.workers)
        ]

        def forward(signum: int, _frame: object) -> None:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signum)

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, forward)
        return max((child.wait() for child in children), key=abs)
    import uvloop

    uvloop.run(serve(opts.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
