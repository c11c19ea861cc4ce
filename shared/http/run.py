"""Process entry point every service's `__main__` calls.

    run_service("gateway", settings, init_app, admin=init_admin, admin_address=("127.0.0.1", 8090))

- configures logging and OpenTelemetry from the environment, then serves with uvloop when it is
  installed;
- with `workers > 1` this process becomes a small supervisor that starts that many worker
  processes sharing the port through SO_REUSEPORT (the kernel spreads connections) and forwards
  SIGTERM/SIGINT/SIGHUP to them;
- on SIGTERM or SIGINT it stops accepting, lets in-flight requests finish within
  SHUTDOWN_GRACE_SECONDS, runs the apps' shutdown and cleanup hooks and exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from shared.settings import ServiceSettings

AppFactory = Callable[[], Awaitable[web.Application]]


class PublicServer(Protocol):
    async def stop(self, grace: float) -> None: ...


# Serves the public port itself over the set-up app (the gateway's data plane): app, host,
# port, reuse_port. Without one, the app is served by aiohttp.
ServePublic = Callable[[web.Application, str, int, bool], Awaitable[PublicServer]]
WORKER_ENV = "SURGE_WORKER_INDEX"
log = logging.getLogger("shared.http.run")


def run_service(
    service: str,
    settings: ServiceSettings,
    init_app: AppFactory,
    *,
    admin: AppFactory | None = None,
    admin_address: tuple[str, int] | None = None,
    handler_args: dict[str, Any] | None = None,
    public: ServePublic | None = None,
) -> None:
    from shared.telemetry import configure_logging

    configure_logging(service, settings.platform)
    if settings.workers > 1 and WORKER_ENV not in os.environ:
        sys.exit(_supervise(service, settings.workers))
    coro = _serve(service, settings, init_app, admin, admin_address, handler_args or {}, public)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency, but optional at run time
        asyncio.run(coro)
    else:
        uvloop.run(coro)


async def _serve(
    service: str,
    settings: ServiceSettings,
    init_app: AppFactory,
    admin: AppFactory | None,
    admin_address: tuple[str, int] | None,
    handler_args: dict[str, Any],
    public: ServePublic | None = None,
) -> None:
    from shared.telemetry import configure_telemetry

    telemetry = configure_telemetry(service, settings.platform)
    grace = settings.platform.shutdown_grace_seconds
    shared_port = settings.workers > 1
    runners: list[web.AppRunner] = []
    served: PublicServer | None = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        app = await init_app()
        if public is None:
            runners.append(
                await _start(app, settings.host, settings.port, grace, shared_port, handler_args)
            )
        else:
            runner = web.AppRunner(app, handle_signals=False)
            await runner.setup()  # the app's resources, served by `public`
            runners.append(runner)
            served = await public(app, settings.host, settings.port, shared_port)
        # Admin APIs hold per-process state, so only the first worker serves them.
        if admin is not None and admin_address and os.environ.get(WORKER_ENV, "0") == "0":
            admin_app = await admin()
            runners.append(await _start(admin_app, *admin_address, grace, False, {}))
        log.info(
            "%s listening on http://%s:%d",
            service,
            settings.host,
            settings.port,
            extra={"event": "listening", "port": settings.port, "admin": admin_address},
        )
        await stop.wait()
        log.info("%s stopping (grace %.1fs)", service, grace)
    finally:
        if served is not None:
            await served.stop(grace)
        for runner in reversed(runners):
            await runner.cleanup()
        telemetry.shutdown()
    log.info("%s stopped", service)


async def _start(
    app: web.Application,
    host: str,
    port: int,
    grace: float,
    reuse_port: bool,
    handler_args: dict[str, Any],
) -> web.AppRunner:
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=grace, **handler_args
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None, backlog=2048)
    await site.start()
    return runner


def _supervise(service: str, workers: int) -> int:
    """Run `workers` copies of this very command; each binds the port with SO_REUSEPORT."""
    children = [
        subprocess.Popen(  # noqa: S603 - re-executes our own interpreter and arguments
            [sys.executable, *sys.orig_argv[1:]], env={**os.environ, WORKER_ENV: str(index)}
        )
        for index in range(workers)
    ]
    log.info("%s supervising %d workers", service, workers)

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    codes = [child.wait() for child in children]
    return max(codes, key=abs)
