"""`python -m services.accounts`: sign-in, sign-up and the OpenID Connect issuer on
ACCOUNTS_PORT."""

from __future__ import annotations

from aiohttp import web

from services.accounts.app import init_app
from services.accounts.settings import AccountsSettings
from shared.http.run import run_service


def main() -> None:
    settings = AccountsSettings()

    async def make_app() -> web.Application:
        return await init_app(settings)

    run_service("accounts", settings, make_app)


if __name__ == "__main__":
    main()
