"""`python -m services.shop`: the sample shop on SHOP_PORT (reached through the gateway)."""

from __future__ import annotations

from aiohttp import web

from services.shop.app import init_app
from services.shop.settings import ShopSettings
from shared.http.run import run_service


def main() -> None:
    settings = ShopSettings()

    async def make_app() -> web.Application:
        return await init_app(settings)

    run_service("shop", settings, make_app)


if __name__ == "__main__":
    main()
