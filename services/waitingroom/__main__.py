"""`python -m services.waitingroom`: the waiting room's HTTP API on WAITINGROOM_PORT."""

from __future__ import annotations

from aiohttp import web

from services.waitingroom.app import init_app
from services.waitingroom.settings import WaitingroomSettings
from shared.http.run import run_service


def main() -> None:
    settings = WaitingroomSettings()

    async def make_app() -> web.Application:
        return await init_app(settings)

    run_service("waitingroom", settings, make_app)


if __name__ == "__main__":
    main()
