"""Per-route detection settings from the route table: paranoia level, anomaly threshold, rule
exclusions and accepted content types, through the WAF as the gateway runs it."""

from __future__ import annotations

import pytest

from services.gateway.routing.live import RouteTableError, parse
from tests.unit.gateway.waf_support import make_waf, serve, table

pytestmark = pytest.mark.unit

ROUTES = table(
    {"id": "default", "prefix": "/api", "upstream": "up"},
    {"id": "strict", "prefix": "/admin", "upstream": "up", "waf": {"paranoia_level": 3}},
    {"id": "lenient", "prefix": "/cms", "upstream": "up", "waf": {"anomaly_threshold": 100}},
    {"id": "excluding", "prefix": "/docs", "upstream": "up", "waf": {"exclude_rules": ["xss-001"]}},
    {
        "id": "uploads",
        "prefix": "/uploads",
        "upstream": "up",
        "waf": {"allowed_content_types": ["image/png"]},
    },
    {
        "id": "images",
        "prefix": "/images",
        "upstream": "up",
        "waf": {"allowed_content_types": ["image/*"]},
    },
    {
        "id": "signin",
        "prefix": "/signin",
        "upstream": "up",
        "waf": {"exclude_fields": ["Password"]},
    },
)


async def test_a_route_at_a_higher_paranoia_level_blocks_what_the_default_lets_through() -> None:
    async with serve(make_waf(), ROUTES) as gw:
        assert (await gw.get("/api/x", params={"bio": "<b>bold</b>"})).status == 200
        response = await gw.get("/admin/x", params={"bio": "<b>bold</b>"})
        assert response.status == 403
        assert response.json()["rule_id"].startswith("xss-")


async def test_a_route_threshold_decides_when_the_score_blocks() -> None:
    async with serve(make_waf(), ROUTES) as gw:
        params = {"q": "<script>alert(1)</script>"}
        blocked = await gw.get("/api/x", params=params)
        assert blocked.status == 403
        assert blocked.json()["anomaly_score"] >= 10
        assert set(blocked.json()["matched_rules"]) >= {"xss-001", "xss-005"}
        assert (await gw.get("/cms/x", params=params)).status == 200


async def test_a_route_can_exclude_a_rule() -> None:
    async with serve(make_waf(), ROUTES) as gw:
        assert (await gw.get("/api/x", params={"q": "<script>x</script>"})).status == 403
        assert (await gw.get("/docs/x", params={"q": "<script>x</script>"})).status == 200


async def test_a_route_sets_the_content_types_it_accepts() -> None:
    async with serve(make_waf(), ROUTES) as gw:
        png = {"Content-Type": "image/png"}
        assert (await gw.post("/api/x", data=b"\x89PNG", headers=png)).status == 403
        assert (await gw.post("/uploads/x", data=b"\x89PNG", headers=png)).status == 200
        json_body = {"Content-Type": "application/json"}  # the route's list replaces the default
        refused = await gw.post("/uploads/x", data=b"{}", headers=json_body)
        assert refused.status == 403
        assert refused.json()["rule_id"] == "protocol-008"


def typed(kind: str) -> dict[str, str]:
    return {"Content-Type": kind}


async def test_a_route_accepts_a_family_of_content_types_and_never_reads_the_bytes() -> None:
    async with serve(make_waf(), ROUTES) as gw:
        polyglot = b"\xff\xd8\xff<?php system($_GET[c]); ?>"  # the service sniffs such files
        for kind in ("image/jpeg", "image/webp", "image/avif"):
            sent = await gw.request("PUT", "/images/x", data=polyglot, headers=typed(kind))
            assert sent.status == 200, sent.body
        refused = await gw.request("PUT", "/images/x", data=b"PK", headers=typed("application/zip"))
        assert refused.json()["rule_id"] == "protocol-008"


async def test_a_route_can_leave_secret_fields_unread() -> None:
    """A password manager's password is not a payload; every other field is still read."""
    async with serve(make_waf(), ROUTES) as gw:
        secret = {"email": "ana@example.com", "password": "x7$(Kp;|id`"}
        assert (await gw.post("/api/x", json=secret)).status == 403
        assert (await gw.post("/signin/x", json=secret)).status == 200
        form = {"email": "ana@example.com", "password": "' or 1=1--"}
        assert (await gw.post("/signin/x", data=form)).status == 200
        injected = {"email": "admin'--", "password": "x7$(Kp;|id`"}
        refused = await gw.post("/signin/x", json=injected)
        assert refused.status == 403
        assert refused.json()["rule_id"].startswith("sqli-")


def test_the_route_table_refuses_unknown_exclusions_and_levels() -> None:
    base = "upstreams: {up: {url: 'http://127.0.0.1:1'}}\nroutes:\n"
    route = "  - {id: r, prefix: /, upstream: up, waf: %s}\n"
    assert parse(base + route % "{exclude_rules: [sqli-001], paranoia_level: 2}")
    with pytest.raises(RouteTableError, match="sqli-999"):
        parse(base + route % "{exclude_rules: [sqli-999]}")
    with pytest.raises(RouteTableError, match="paranoia_level"):
        parse(base + route % "{paranoia_level: 5}")
