"""Every route of the shipped route table passes its own realistic traffic through the WAF.

Each route's requests (tests/waftraffic/platform.py: what the platform's browsers, apps and
services send it) go through `Waf.inspect` as the data plane calls it: the route picked as the
pipeline picks it, the route's own policy from services/gateway/routes.yaml (paranoia level,
threshold, content types, body limit), bodies read as the gateway reads them. Not one may be
refused. A route added to the table without traffic here fails the test.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from aiohttp import web

from services.gateway.request import ClientInfo, Request
from services.gateway.routing.live import parse
from services.gateway.routing.table import RouteTable, expand_addresses
from services.gateway.waf.view import RequestView
from tests.unit.gateway.waf_support import make_waf
from tests.waftraffic.platform import ROUTE_TRAFFIC

pytestmark = pytest.mark.unit

ROUTES = Path(__file__).resolve().parents[3] / "services" / "gateway" / "routes.yaml"
PER_ROUTE = 40


def shipped_table() -> RouteTable:
    return parse(expand_addresses(ROUTES.read_text(encoding="utf-8")))


class Body:
    """A request body as the data plane hands it over: in socket-sized chunks."""

    def __init__(self, data: bytes) -> None:
        self._chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]

    async def readany(self) -> bytes:
        return self._chunks.pop(0) if self._chunks else b""

    def at_eof(self) -> bool:
        return not self._chunks


def as_request(view: RequestView, client: str) -> Request:
    raw = [(name.encode(), value.encode()) for name, value in view.headers]
    body = view.body
    return Request(
        view.method,
        view.target,
        raw,
        client=ClientInfo(client, "https", client),
        secure=True,
        content=Body(body or b""),
        content_length=len(body) if body is not None else None,
    )


def test_every_route_has_realistic_traffic() -> None:
    assert {route.id for route in shipped_table().routes} == set(ROUTE_TRAFFIC)


@pytest.mark.parametrize("route_id", sorted(ROUTE_TRAFFIC))
async def test_a_route_passes_its_own_traffic_at_its_own_policy(route_id: str) -> None:
    table = shipped_table()
    waf = make_waf()
    rng = random.Random(route_id)
    refused = []
    for index in range(PER_ROUTE):
        view = ROUTE_TRAFFIC[route_id](rng)
        request = as_request(view, f"198.51.100.{index % 250}")
        route = table.match(request.path, request.method) or table.match_path(request.path)
        assert route is not None, (view.method, view.target)
        assert route.id == route_id, (view.method, view.target)
        try:
            await waf.inspect(request, route)
        except web.HTTPException as refusal:
            refused.append((view.method, view.target[:120], refusal.status, refusal.text))
    assert not refused, refused[:3]
