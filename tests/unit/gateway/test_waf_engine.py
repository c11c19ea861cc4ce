"""`Waf.inspect` through a real aiohttp server: blocks as 403 problems naming the rule, report-only
rules count without blocking, IP lists and the rate-based rule, methods, metrics and the log."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tests.clock import ManualClock
from tests.unit.gateway.waf_support import Reply, make_waf, serve, table

pytestmark = pytest.mark.unit

ROUTES = table(
    {"id": "api", "prefix": "/api", "upstream": "up", "methods": ["GET", "POST"]},
    {"id": "raw", "prefix": "/raw", "upstream": "up", "waf": {"enabled": False}},
)


def matches(registry: CollectorRegistry, rule_id: str, action: str) -> float:
    labels = {"rule_id": rule_id, "action": action}
    return registry.get_sample_value("gateway_waf_matches_total", labels) or 0.0


def blocked(response: Reply, rule_id: str, status: int = 403) -> dict[str, Any]:
    assert response.status == status
    assert response.content_type == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert problem["rule_id"] == rule_id
    if status == 403:
        assert rule_id in problem["detail"]
    return problem


@pytest.mark.parametrize(
    ("path", "rule_id"),
    [
        ("/api/items?q=%27%20OR%201%3D1--", "sqli-001"),
        ("/api/items?q=1%20UnIoN%2F**%2FsElEcT%201", "sqli-003"),
        ("/api/items?q=%253Cscript%253Ealert(1)", "xss-001"),
        ("/api/items/..%2F..%2F..%2Fetc%2Fpasswd", "lfi-001"),
        ("/nowhere?next=javascript:alert(1)", "xss-003"),  # no route: global rules still apply
    ],
)
async def test_signatures_on_path_and_query_block_with_the_rule_id(path: str, rule_id: str) -> None:
    registry = CollectorRegistry()
    async with serve(make_waf(registry=registry), ROUTES) as gw:
        response = await gw.get(path)
        blocked(response, rule_id)
    assert matches(registry, rule_id, "block") == 1


async def test_benign_requests_pass() -> None:
    async with serve(make_waf(), ROUTES) as gw:
        query = {"name": "O'Brien", "note": "select a seat", "qty": "1 or 2 tickets", "m": "<3"}
        response = await gw.get("/api/items", params=query)
        assert response.status == 200
        body = {"name": "O'Brien", "comment": "I <3 this; select a seat", "n": "1 or 2 tickets"}
        response = await gw.post("/api/orders", json=body)
        assert response.status == 200
        assert (response.json())["received"] > 0


async def test_chosen_headers_are_inspected_but_never_authorization() -> None:
    async with serve(make_waf(), ROUTES) as gw:
        for name in ("User-Agent", "Referer", "Cookie", "X-Custom"):
            response = await gw.get("/api/x", headers={name: "<script>alert(1)</script>"})
            blocked(response, "xss-001")
        response = await gw.get("/api/x", headers={"Authorization": "' or 1=1--"})
        assert response.status == 200
        response = await gw.get("/api/x", headers={"Accept-Language": "' or 1=1--"})
        assert response.status == 200


async def test_json_body_keys_and_values_are_inspected() -> None:
    async with serve(make_waf(), ROUTES) as gw:
        nested = {"order": {"items": [{"note": "fine"}, {"note": "1; DROP TABLE users"}]}}
        response = await gw.post("/api/orders", json=nested)
        problem = blocked(response, "sqli-004")
        assert "DROP" not in problem["detail"]  # the payload is never echoed
        response = await gw.post("/api/orders", json={"<script>x</script>": 1})
        blocked(response, "xss-001")
        escaped = b'{"q": "\\u0027 or 1=1--"}'  # the quote hidden in a JSON escape
        headers = {"Content-Type": "application/json"}
        response = await gw.post("/api/orders", data=escaped, headers=headers)
        blocked(response, "sqli-001")


async def test_urlencoded_form_bodies_are_inspected() -> None:
    async with serve(make_waf(), ROUTES) as gw:
        response = await gw.post("/api/login", data={"user": "admin'--", "pw": "x"})
        blocked(response, "sqli-005")


async def test_a_route_with_waf_disabled_skips_signatures() -> None:
    async with serve(make_waf(), ROUTES) as gw:
        response = await gw.post("/raw/x?q=%27%20OR%201%3D1--", json={"a": "<script>"})
        assert response.status == 200


async def test_report_only_rules_count_and_log_but_do_not_block(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = CollectorRegistry()
    # <script>alert(1)</script> matches the script-tag and the DOM-sink rules.
    waf = make_waf(registry=registry, waf_report_only_rules="xss-001, xss-005, sqli-001")
    caplog.set_level(logging.WARNING, logger="surge.gateway.waf")
    async with serve(waf, ROUTES) as gw:
        response = await gw.get("/api/x", params={"q": "<script>alert(1)</script>"})
        assert response.status == 200
        response = await gw.get("/api/x", params={"q": "1 union select 1"})
        blocked(response, "sqli-003")  # a blocking rule still blocks
    assert matches(registry, "xss-001", "count") == 1
    assert matches(registry, "xss-001", "block") == 0
    logged = [r.rule_id for r in caplog.records]  # type: ignore[attr-defined]
    assert logged == ["xss-001", "xss-005", "sqli-003"]
    assert {rule["id"]: rule["mode"] for rule in waf.rule_summaries()}["xss-001"] == "count"


async def test_disabled_rules_do_not_match() -> None:
    async with serve(make_waf(waf_disabled_rules="xss-001,xss-005"), ROUTES) as gw:
        response = await gw.get("/api/x", params={"q": "<script>alert(1)</script>"})
        assert response.status == 200


def test_unknown_rule_ids_in_the_switches_fail_startup() -> None:
    with pytest.raises(ValueError, match="GATEWAY_WAF_REPORT_ONLY_RULES"):
        make_waf(waf_report_only_rules="sqli-999")
    with pytest.raises(ValueError, match="GATEWAY_WAF_DISABLED_RULES"):
        make_waf(waf_disabled_rules="nope")


async def test_the_block_is_logged_on_one_line_without_the_body(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="surge.gateway.waf")
    secret = "s3cr3t-body-value"
    async with serve(make_waf(), ROUTES) as gw:
        response = await gw.post("/api/orders", json={"a": secret, "b": "' or 1=1--"})
        assert response.status == 403
    [record] = caplog.records
    line = record.getMessage()
    assert "rule=sqli-001" in line
    assert "ip=127.0.0.1" in line
    assert "target=body:json:b" in line
    assert "method=POST path=/api/orders" in line
    assert secret not in line
    assert record.__dict__["client_ip"] == "127.0.0.1"


async def test_deny_list_and_allow_list_block_the_client() -> None:
    async with serve(make_waf(waf_deny_cidrs="127.0.0.0/8"), ROUTES) as gw:
        response = await gw.get("/api/x")
        blocked(response, "ip-deny")
    async with serve(make_waf(waf_allow_cidrs="10.0.0.0/8,::1/128"), ROUTES) as gw:
        response = await gw.get("/api/x")
        blocked(response, "ip-allow")
    async with serve(make_waf(waf_allow_cidrs="127.0.0.1/32"), ROUTES) as gw:
        response = await gw.get("/api/x")
        assert response.status == 200


async def test_rate_based_rule_blocks_past_the_limit_then_releases() -> None:
    clock = ManualClock()
    registry = CollectorRegistry()
    waf = make_waf(
        clock, registry, waf_rate_limit=5, waf_rate_window_seconds=60, waf_rate_block_seconds=120
    )
    async with serve(waf, ROUTES) as gw:
        for _ in range(5):
            response = await gw.get("/api/x")
            assert response.status == 200
        response = await gw.get("/api/x")
        problem = blocked(response, "rate-based")
        assert response.headers["Retry-After"] == "120"
        assert "more than 5 requests in 60 s" in problem["detail"]
        clock.advance(60)
        response = await gw.get("/api/x")
        blocked(response, "rate-based")
        assert response.headers["Retry-After"] == "60"
        assert registry.get_sample_value("gateway_waf_blocked_addresses") == 1
        clock.advance(60)
        response = await gw.get("/api/x")
        assert response.status == 200
    assert matches(registry, "rate-based", "block") == 2


async def test_rate_based_in_report_only_mode_never_blocks() -> None:
    registry = CollectorRegistry()
    waf = make_waf(registry=registry, waf_rate_limit=2, waf_report_only_rules="rate-based")
    async with serve(waf, ROUTES) as gw:
        for _ in range(4):
            response = await gw.get("/api/x")
            assert response.status == 200
    assert matches(registry, "rate-based", "count") == 1


async def test_a_method_outside_the_allow_list_is_405_with_allow() -> None:
    async with serve(make_waf(), ROUTES) as gw:
        response = await gw.delete("/api/items/1")
        blocked(response, "method", 405)
        assert response.headers["Allow"] == "GET, POST"
