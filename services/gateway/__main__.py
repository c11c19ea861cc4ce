"""`python -m services.gateway`: the public port and the admin port."""

from __future__ import annotations

from aiohttp import web

from services.gateway.app import init_admin, init_app
from services.gateway.settings import GatewaySettings
from shared.http.run import run_service


def main() -> None:
    settings = GatewaySettings()
    public: list[web.Application] = []

    async def make_public() -> web.Application:
        app = await init_app(settings)
        public.append(app)
        return app

    async def make_admin() -> web.Application:
        return await init_admin(public[0])

    run_service(
        "gateway",
        settings,
        make_public,
        admin=make_admin,
        admin_address=(settings.admin_host, settings.admin_port),
    )


if __name__ == "__main__":
    main()
