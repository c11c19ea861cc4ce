"""The ceiling of our stack: a bare aiohttp + uvloop reverse proxy, no gateway features.

    python bench/baselines/aiohttp_proxy.py --port P --upstream U [--workers N]

What the gateway is built from, minus everything it adds: one aiohttp server per worker
process (SO_REUSEPORT, as GATEWAY_WORKERS), one `ClientSession` with a pooled keep-alive
connector to the upstream, the path+query and the `Authorization` header forwarded, status,
content type and body returned. No middleware, tracing, metrics, auth, limits, WAF or logging.
`bench/gateway.py` starts it in its own process group (the supervisor and its workers), so
stopping the group stops them all.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence

import aiohttp
from aiohttp import web

WORKER_ENV = "BARE_PROXY_WORKER"
SESSION = web.AppKey("session", aiohttp.ClientSession)


def make_app(upstream: str) -> web.Application:
    app = web.Application()

    async def session(app: web.Application) -> AsyncIterator[None]:
        # The same pool settings as the gateway's shared client session (shared/http/app.py).
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=256, keepalive_timeout=30)
        async with aiohttp.ClientSession(
            connector=connector, trust_env=False, cookie_jar=aiohttp.DummyCookieJar()
        ) as client:
            app[SESSION] = client
            yield

    async def proxy(request: web.Request) -> web.Response:
        headers = {}
        if (auth := request.headers.get("Authorization")) is not None:
            headers["Authorization"] = auth
        async with request.app[SESSION].request(
            request.method, upstream + request.path_qs, headers=headers, allow_redirects=False
        ) as answer:
            body = await answer.read()
            return web.Response(
                status=answer.status,
                body=body,
                headers={"Content-Type": answer.headers.get("Content-Type", "text/plain")},
            )

    app.cleanup_ctx.append(session)
    app.router.add_route("*", "/{tail:.*}", proxy)
    return app


async def serve(port: int, upstream: str) -> None:
    runner = web.AppRunner(make_app(upstream), access_log=None, handle_signals=False)
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
    parser.add_argument("--upstream", type=int, required=True, help="upstream port (127.0.0.1)")
    parser.add_argument("--workers", type=int, default=2)
    opts = parser.parse_args(argv)
    if os.environ.get(WORKER_ENV) is None:
        # The supervisor: N copies of this command sharing the port, as the gateway's workers.
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

    uvloop.run(serve(opts.port, f"http://127.0.0.1:{opts.upstream}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
