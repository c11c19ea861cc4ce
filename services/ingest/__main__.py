"""`python -m services.ingest`: the tracking ingest on INGEST_PORT."""

from __future__ import annotations

from aiohttp import web

from services.ingest.app import init_app
from services.ingest.settings import IngestSettings
from shared.http.run import run_service


def main() -> None:
    settings = IngestSettings()

    async def make_app() -> web.Application:
        return await init_app(settings)

    run_service("ingest", settings, make_app)


if __name__ == "__main__":
    main()
