"""The services the local stack runs. Adding a service means adding one entry here.

Each entry names the module started with `python -m`, the environment variable holding its
port and the default port (plus an admin port and any extra ports, such as the notifier's
WebSocket port); the stack runner, the e2e test and the README table read this list.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServiceEntry:
    name: str
    module: str
    port_env: str
    port: int
    admin_port_env: str | None = None
    admin_port: int | None = None
    # Extra variables for the service; `{data}` is the run directory's data folder.
    env: dict[str, str] = field(default_factory=dict)
    # Other listening ports, environment variable -> default (shown in the banner).
    extra_ports: dict[str, int] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return self.port_env.removesuffix("PORT")

    def urls(self) -> dict[str, str]:
        """Where other processes reach this service's ports: `<NAME>_URL` -> `<NAME>_PORT`
        (`WAITINGROOM_URL` for `WAITINGROOM_PORT`, `NOTIFIER_WS_URL` for `NOTIFIER_WS_PORT`)."""
        ports = [self.port_env, *self.extra_ports]
        return {name.removesuffix("PORT") + "URL": name for name in ports}


SERVICES: tuple[ServiceEntry, ...] = (
    ServiceEntry(
        name="gateway",
        module="services.gateway",
        port_env="GATEWAY_PORT",
        port=8080,
        admin_port_env="GATEWAY_ADMIN_PORT",
        admin_port=8090,
    ),
    ServiceEntry(
        name="notifier",
        module="services.notifier",
        port_env="NOTIFIER_PORT",
        port=8081,
        extra_ports={"NOTIFIER_WS_PORT": 8082},
    ),
    ServiceEntry(
        name="waitingroom",
        module="services.waitingroom",
        port_env="WAITINGROOM_PORT",
        port=8083,
    ),
    ServiceEntry(
        name="shop",
        module="services.shop",
        port_env="SHOP_PORT",
        port=8084,
    ),
    ServiceEntry(
        name="ingest",
        module="services.ingest",
        port_env="INGEST_PORT",
        port=8085,
    ),
    ServiceEntry(
        name="avatars",
        module="services.avatars",
        port_env="AVATARS_PORT",
        port=8086,
        # `{data}`: the run directory's data folder (kept across restarts, `make clean-data`).
        env={"AVATARS_DATA_DIR": "{data}/avatars"},
    ),
    ServiceEntry(
        name="accounts",
        module="services.accounts",
        port_env="ACCOUNTS_PORT",
        port=8087,
    ),
)
