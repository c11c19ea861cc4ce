"""CORS per route (preflights answered by the gateway, origin echo, Vary) and security headers."""

from __future__ import annotations

import pytest

from services.gateway.dataplane import cors
from services.gateway.dataplane.cors import GENERATED_CSP, SecurityHeaders, match_origin
from services.gateway.dataplane.headers import ResponseHeaders
from services.gateway.routing.table import Cors
from tests.unit.gateway.g2_support import request
from tests.unit.gateway.waf_support import Reply, make_waf, route, serve, table

pytestmark = pytest.mark.unit

STRICT = {
    "allow_origins": ["https://app.example.com", "https://*.example.org"],
    "allow_credentials": True,
    "max_age_seconds": 120,
}
ROUTES = table(
    {
        "id": "strict",
        "prefix": "/strict",
        "upstream": "up",
        "methods": ["GET", "POST"],
        "cors": STRICT,
    },
    {"id": "open", "prefix": "/open", "upstream": "up", "cors": {"allow_credentials": True}},
    {"id": "plain", "prefix": "/plain", "upstream": "up"},
)
APP = "https://app.example.com"


def preflight_headers(origin: str, method: str = "POST", headers: str = "") -> dict[str, str]:
    sent = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        sent["Access-Control-Request-Headers"] = headers
    return sent


def cors_headers(response: Reply | ResponseHeaders) -> dict[str, str]:
    headers = response if isinstance(response, ResponseHeaders) else response.headers
    return {k: v for k, v in headers.items() if k.lower().startswith("access-control-")}


async def test_an_allowed_preflight_is_answered_by_the_gateway() -> None:
    async with serve(make_waf(), ROUTES) as gw:
        sent = preflight_headers(APP, "POST", "Content-Type, Authorization")
        response = await gw.options("/strict/items", headers=sent)
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == APP
        assert response.headers["Access-Control-Allow-Methods"] == "GET, POST"
        allowed = response.headers["Access-Control-Allow-Headers"].lower()
        assert {"authorization", "content-type"} <= set(allowed.replace(" ", "").split(","))
        assert response.headers["Access-Control-Max-Age"] == "120"
        assert response.headers["Access-Control-Allow-Credentials"] == "true"
        assert "Origin" in response.headers["Vary"]
        assert response.headers["Content-Security-Policy"] == GENERATED_CSP


@pytest.mark.parametrize(
    ("origin", "method", "headers", "reason"),
    [
        ("https://evil.example.com", "POST", "", "origin"),
        ("http://app.example.com", "POST", "", "origin"),  # the scheme is part of the origin
        ("https://example.org.evil.net", "GET", "", "origin"),
        ("null", "GET", "", "origin"),
        (APP, "DELETE", "", "method"),  # CORS allows DELETE, the route does not
        (APP, "POST", "x-evil", "headers"),
    ],
)
async def test_a_refused_preflight_is_403_without_cors_headers(
    origin: str, method: str, headers: str, reason: str
) -> None:
    async with serve(make_waf(), ROUTES) as gw:
        sent = preflight_headers(origin, method, headers)
        response = await gw.options("/strict/items", headers=sent)
        assert response.status == 403
        assert response.content_type == "application/problem+json"
        assert reason in (response.json())["detail"]
        assert cors_headers(response) == {}


async def test_subdomain_wildcards_match_any_depth_on_the_same_scheme() -> None:
    async with serve(make_waf(), ROUTES) as gw:
        sent = preflight_headers("https://a.b.example.org", "GET")
        response = await gw.options("/strict/x", headers=sent)
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == "https://a.b.example.org"


async def test_star_echoes_the_origin_but_never_grants_credentials() -> None:
    async with serve(make_waf(), ROUTES) as gw:
        sent = preflight_headers("https://anyone.test", "PUT")
        response = await gw.options("/open/x", headers=sent)
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == "https://anyone.test"
        assert "Access-Control-Allow-Credentials" not in response.headers


async def test_actual_requests_get_the_origin_echoed_with_vary() -> None:
    async with serve(make_waf(), ROUTES) as gw:
        response = await gw.get("/strict/x", headers={"Origin": APP})
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == APP
        assert response.headers["Access-Control-Allow-Credentials"] == "true"
        assert "x-request-id" in response.headers["Access-Control-Expose-Headers"]
        assert response.headers["Vary"] == "Origin"
        response = await gw.get("/strict/x", headers={"Origin": "https://evil.test"})
        assert response.status == 200
        assert cors_headers(response) == {}
        assert response.headers["Vary"] == "Origin"


async def test_routes_without_cors_leave_preflights_to_the_upstream() -> None:
    async with serve(make_waf(), ROUTES) as gw:
        response = await gw.options("/plain/x", headers=preflight_headers(APP))
        assert response.status == 200  # the upstream stand-in answered
        assert cors_headers(response) == {}


async def test_security_headers_are_on_every_response() -> None:
    async with serve(make_waf(), ROUTES) as gw:
        for path, status in (("/plain/x", 200), ("/plain/x?q=<script>", 403), ("/none", 404)):
            response = await gw.get(path)
            assert response.status == status
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert response.headers["X-Frame-Options"] == "DENY"
            assert response.headers["Referrer-Policy"] == "no-referrer"
            assert response.headers["Cross-Origin-Resource-Policy"] == "same-site"
            assert "Strict-Transport-Security" not in response.headers  # plain http
            generated = status != 200
            assert ("Content-Security-Policy" in response.headers) is generated


async def test_security_headers_can_be_switched_off() -> None:
    async with serve(make_waf(security_headers=False), ROUTES) as gw:
        response = await gw.get("/plain/x")
        assert "X-Frame-Options" not in response.headers


def test_hsts_only_over_https() -> None:
    secure = request(proto="https")
    response = ResponseHeaders()
    cors.decorate(secure, response, None, upstream=True)
    assert (response.get("Strict-Transport-Security") or "").startswith("max-age=")
    plain = ResponseHeaders()
    cors.decorate(request(), plain, None, upstream=True)
    assert "Strict-Transport-Security" not in plain


def test_upstream_choices_are_kept_but_gateway_responses_are_locked_down() -> None:
    upstream = ResponseHeaders.of({"X-Frame-Options": "SAMEORIGIN"}.items())
    cors.decorate(request(), upstream, None, upstream=True)
    assert upstream["X-Frame-Options"] == "SAMEORIGIN"
    assert "Content-Security-Policy" not in upstream
    generated = ResponseHeaders.of({"X-Frame-Options": "SAMEORIGIN"}.items())
    cors.decorate(request(), generated, None)
    assert generated["X-Frame-Options"] == "DENY"
    assert generated["Content-Security-Policy"] == GENERATED_CSP


def test_upstream_cors_headers_are_replaced_on_a_cors_route() -> None:
    evil = request({"Origin": "https://evil.test"})
    upstream = ResponseHeaders.of(
        {"Access-Control-Allow-Origin": "*", "Vary": "Accept-Encoding"}.items()
    )
    cors.decorate(evil, upstream, route(cors=STRICT), upstream=True)
    assert cors_headers(upstream) == {}
    assert upstream["Vary"] == "Accept-Encoding, Origin"


def test_decorate_is_idempotent() -> None:
    sent = request({"Origin": APP})
    response = ResponseHeaders()
    strict = route(cors=STRICT)
    cors.decorate(sent, response, strict, security=SecurityHeaders(enabled=True))
    cors.decorate(sent, response, strict, security=SecurityHeaders(enabled=True))
    assert response.getall("Vary") == ["Origin"]
    assert response.getall("Access-Control-Allow-Origin") == [APP]


def test_match_origin_is_case_insensitive_and_explicit_only_when_listed() -> None:
    policy = Cors(allow_origins=["https://App.Example.com", "*"])
    assert match_origin(policy, "https://app.example.COM") == (True, True)
    assert match_origin(policy, "https://other.test") == (True, False)
    assert match_origin(Cors(allow_origins=["null"]), "null") == (True, True)
    assert match_origin(Cors(allow_origins=["https://*.example.org"]), "https://.example.org") == (
        False,
        False,
    )
