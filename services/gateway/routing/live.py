"""The live route table and per-upstream state, swapped atomically on reload.

A reload (SIGHUP or the admin API) parses and validates the whole new table first; an invalid
table raises `RouteTableError` and the running one stays. In-flight requests keep the `Route`
they matched, and connections live in the shared client session, so nothing is dropped.
Breakers and retry budgets survive a reload for upstreams that keep their name.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from pydantic import ValidationError

from services.gateway.routing.breaker import Breaker
from services.gateway.routing.retries import RetryBudget
from services.gateway.routing.table import RouteTable, Upstream, expand_addresses
from services.gateway.settings import GatewaySettings
from services.gateway.waf.signatures import RULES_BY_ID
from services.gateway.waf.validation import check_schema

log = logging.getLogger("gateway.routing")


class RouteTableError(ValueError):
    pass


@dataclass
class UpstreamState:
    name: str
    config: Upstream
    breaker: Breaker
    budget: RetryBudget = field(default_factory=RetryBudget)
    slots: asyncio.Semaphore = field(default_factory=asyncio.Semaphore)
    # Read on every proxied request; a config change makes a new UpstreamState, so computed once.
    base_url: str = field(init=False)
    host: str = field(init=False)
    host_header: bytes = field(init=False)  # what the upstream gets as Host
    audience: str = field(init=False)  # the service the gateway signs callers for

    def __post_init__(self) -> None:
        url = self.config.url
        self.base_url = str(url).rstrip("/")
        self.host = url.host or ""
        default = 443 if url.scheme == "https" else 80
        netloc = self.host if url.port in (None, default) else f"{self.host}:{url.port}"
        self.host_header = netloc.encode("idna")
        self.audience = self.config.audience or self.name


def parse(text: str) -> RouteTable:
    try:
        table = RouteTable.from_yaml(text)
        for route in table.routes:
            if route.waf.body_schema is not None:
                check_schema(route.waf.body_schema)
            if unknown := sorted(set(route.waf.exclude_rules) - RULES_BY_ID.keys()):
                raise ValueError(f"route {route.id!r} excludes unknown WAF rules {unknown}")
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(table)'}: {err['msg']}"
            for err in exc.errors(include_url=False)
        )
        raise RouteTableError(f"invalid route table: {problems}") from None
    except Exception as exc:  # YAML syntax, bad JSON Schema
        raise RouteTableError(f"invalid route table: {exc}") from None
    return table


class Routing:
    def __init__(self, settings: GatewaySettings) -> None:
        self._settings = settings
        self.table = RouteTable()
        self.upstreams: dict[str, UpstreamState] = {}
        self.version = 0
        self.apply(parse(self.source()))

    def source(self) -> str:
        """The configured table, address variables expanded (`${WAITINGROOM_PORT:-8083}`)."""
        if self._settings.routes_yaml:
            return expand_addresses(self._settings.routes_yaml)
        try:
            return expand_addresses(self._settings.routes_file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise RouteTableError(f"cannot read {self._settings.routes_file}: {exc}") from None

    def apply(self, table: RouteTable) -> None:
        upstreams: dict[str, UpstreamState] = {}
        for name, config in table.upstreams.items():
            old = self.upstreams.get(name)
            if old is not None and old.config == config:
                upstreams[name] = old
            else:
                upstreams[name] = UpstreamState(
                    name,
                    config,
                    Breaker(config.circuit_breaker),
                    slots=asyncio.Semaphore(config.max_connections),
                )
        self.table, self.upstreams = table, upstreams
        self.version += 1
        log.info("route table v%d: %d routes", self.version, len(table.routes))

    def reload(self, text: str | None = None) -> RouteTable:
        """Parse `text` (or re-read the configured source) and swap it in; raises on error."""
        table = parse(text if text is not None else self.source())
        self.apply(table)
        return table
