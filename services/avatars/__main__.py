"""`python -m services.avatars`: the avatars API, media and workflow on AVATARS_PORT."""

from __future__ import annotations

from aiohttp import web

from services.avatars.app import init_app
from services.avatars.settings import AvatarsSettings
from shared.http.run import run_service


def main() -> None:
    settings = AvatarsSettings()

    async def make_app() -> web.Application:
        return await init_app(settings)

    run_service("avatars", settings, make_app)


if __name__ == "__main__":
    main()
