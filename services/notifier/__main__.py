"""`python -m services.notifier`: the HTTP API (NOTIFIER_PORT) and the WebSocket server
(NOTIFIER_WS_PORT) in one process."""

from __future__ import annotations

from services.notifier.app import init_app
from services.notifier.settings import NotifierSettings
from shared.http.run import run_service


def main() -> None:
    settings = NotifierSettings()

    async def make_app():  # type: ignore[no-untyped-def]
        return await init_app(settings)

    run_service("notifier", settings, make_app)


if __name__ == "__main__":
    main()
