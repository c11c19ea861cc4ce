"""Enrichment done once, at the edge: event ids, user agent, bot flag, client address, privacy
signals and the first-party identifier.

- Event ids are UUIDv7 (time-ordered: the store's `_id` index stays append-mostly).
- The user agent is parsed by ua-parser with its native accelerator (ua-parser-rs, a Rust
  regex set; without it ua-parser would try hundreds of Python regexes per string); results are
  cached per user-agent string, which repeat heavily in real traffic.
- Bots: ua-parser's "Spider" device family (the uap-core list of crawlers). Flagged, kept.
- The client address comes from the trusted-proxy chain (INGEST_TRUSTED_PROXIES) and is cut to
  its /24 (IPv4) or /48 (IPv6) before it leaves the process, unless the program opted in.
- `Sec-GPC: 1` or `DNT: 1`: no identifier cookie is set and no identifier is stored.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import ua_parser
import uuid_utils
from aiohttp import web
from ua_parser import CachingResolver, Domain, Parser, load_lazy_builtins

from shared.events.contracts.ingest import Program
from shared.security.networks import Network, client_address

AGENT_CACHE = 20_000
BOT_DEVICE = "Spider"
# Our own identifiers only (a UUID's 32 hex digits, dashed or not): anything else is replaced.
_IDENTIFIER = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
BATCH_NAMESPACE = uuid.UUID("6f1c1d3e-8f3a-4c55-9a0b-6b7e1e4f2a10")


def new_event_id() -> str:
    return str(uuid_utils.uuid7())


def batch_event_id(program: str, client_id: str) -> str:
    """The same (program, client event id) always names the same event: retries are free."""
    return str(uuid.uuid5(BATCH_NAMESPACE, f"{program}\x00{client_id}"))


@dataclass(frozen=True, slots=True)
class AgentInfo:
    browser: str = ""
    browser_version: str = ""
    os: str = ""
    os_version: str = ""
    device: str = ""
    bot: bool = False


def native_parser() -> Parser:
    """ua-parser on its Rust accelerator; refuses to run on the pure-Python fallback."""
    resolver = ua_parser.RegexResolver
    if resolver is None:
        raise RuntimeError("ua-parser-rs (ua-parser[regex]) is not installed")
    return Parser(CachingResolver(resolver(load_lazy_builtins()), ua_parser.Cache(2000)))


def _version(*parts: str | None) -> str:
    return ".".join(p for p in parts if p)


@functools.lru_cache(maxsize=65536)
def truncate_ip(address: str) -> str:
    """/24 for IPv4 (IPv4-mapped IPv6 included), /48 for IPv6; '' when it is no address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


def opted_out(request: web.Request) -> bool:
    headers = request.headers
    return headers.get("Sec-GPC", "").strip() == "1" or headers.get("DNT", "").strip() == "1"


class Enricher:
    def __init__(self, trusted: tuple[Network, ...], cookie_name: str) -> None:
        self.trusted, self.cookie_name = trusted, cookie_name
        self._parser = native_parser()
        self._agents: OrderedDict[str, AgentInfo] = OrderedDict()

    def agent(self, user_agent: str) -> AgentInfo:
        info = self._agents.get(user_agent)
        if info is not None:
            return info
        result = self._parser(user_agent, Domain.ALL).complete()
        ua, os_, device = result.user_agent, result.os, result.device
        info = AgentInfo(
            browser=ua.family if ua else "",
            browser_version=_version(ua.major, ua.minor) if ua else "",
            os=os_.family if os_ else "",
            os_version=_version(os_.major, os_.minor) if os_ else "",
            device=device.family if device else "",
            bot=device is not None and device.family == BOT_DEVICE,
        )
        self._agents[user_agent] = info
        if len(self._agents) > AGENT_CACHE:
            self._agents.popitem(last=False)
        return info

    def client_ip(self, request: web.Request) -> str:
        return client_address(
            request.remote, request.headers.getall("X-Forwarded-For", ()), self.trusted
        )

    @staticmethod
    def ip_for(program: Program | None, address: str, private: bool) -> tuple[str, bool]:
        """(the address to keep, whether it was truncated)."""
        if program is not None and program.privacy.full_ip and not private:
            return address, False
        return truncate_ip(address), True

    def identifier(self, request: web.Request, program: Program, private: bool) -> tuple[str, bool]:
        """(identifier, whether to set the cookie now): none under GPC/DNT or when the program
        keeps no identifiers; the visitor's cookie when it is one of ours, else a new one."""
        if private or not program.privacy.identifier:
            return "", False
        current = request.cookies.get(self.cookie_name, "")
        if current and _IDENTIFIER.match(current):
            return current, False
        return new_event_id(), True
