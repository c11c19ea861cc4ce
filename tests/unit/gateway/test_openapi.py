"""The OpenAPI documents match the apps: the checked-in file matches the code, every admin route
is documented and every documented operation exists, and schemathesis finds no 5xx, no schema
violation and no non-problem error against the running admin app."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.gateway.dataplane.pipeline import Pipeline
from services.gateway.openapi.admin import build_admin
from services.gateway.openapi.public import PROXY_METHODS, build_public, render
from tests.conftest import DocumentServer
from tests.gateway_support import admin_headers, running_gateway

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
DOC_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
MAX_EXAMPLES = 20
BLOCKED_IP = "192.0.2.1"


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method in item
        if method in DOC_METHODS
    }


def served(app: Any) -> set[tuple[str, str]]:
    # aiohttp adds HEAD beside every GET by itself; the documents describe GET only.
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }


def test_checked_in_document_matches_the_code() -> None:
    checked_in = (ROOT / "docs" / "gateway-openapi.json").read_text(encoding="utf-8")
    drift = (
        "docs/gateway-openapi.json drifted from the code: run "
        "`python -m services.gateway.openapi.public > docs/gateway-openapi.json`"
    )
    assert checked_in == render(), drift


def test_every_reference_resolves() -> None:
    doc = json.loads(render())

    def refs(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    found = set(refs(doc))
    assert found
    for target in found:
        node = doc
        for part in target.removeprefix("#/").split("/"):
            node = node[part]
    operation_ids = [
        operation["operationId"]
        for item in doc["paths"].values()
        for method, operation in item.items()
        if method in DOC_METHODS
    ]
    assert len(operation_ids) == len(set(operation_ids))


async def test_every_admin_route_is_documented_and_every_operation_exists() -> None:
    async with running_gateway() as gw:
        routes = served(gw.admin.app)
    doc = documented(build_admin())
    assert routes - doc == set(), "admin routes missing from the document"
    assert doc - routes == set(), "documented admin operations the app does not serve"


async def test_the_public_document_covers_the_public_router() -> None:
    async with running_gateway() as gw:
        pipeline = gw.plane.handler
        assert isinstance(pipeline, Pipeline)
        # The data plane answers its operational paths itself (GET, and HEAD beside it) and
        # proxies everything else.
        routes = {("GET", path) for path in pipeline.local} | {("*", "/{tail}")}
    doc = documented(build_public())
    assert ("*", "/{tail}") in routes  # the catch-all proxy, documented as /{path}
    proxied = {(method.upper(), "/{path}") for method in PROXY_METHODS}
    assert {pair for pair in doc if pair[1] == "/{path}"} == proxied
    assert routes - {("*", "/{tail}")} == doc - proxied


async def test_each_app_serves_its_document() -> None:
    async with running_gateway() as gw:
        public = await gw.client.get("/openapi.json")
        assert public.status == 200
        assert await public.json() == build_public()
        refused = await gw.admin.get("/openapi.json")
        assert refused.status == 401
        assert refused.content_type == "application/problem+json"
        admin = await gw.admin.get("/openapi.json", headers=admin_headers())
        assert admin.status == 200
        assert await admin.json() == build_admin()


# --- schemathesis against the running apps ---------------------------------------------------


@pytest.fixture(scope="module")
def urls(ferretdb: DocumentServer) -> Iterator[dict[str, str]]:
    """The gateway in a thread of its own: schemathesis calls it with blocking `requests`."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MONGODB_URL", ferretdb.url)
        env.setenv("MONGODB_DATABASE", "t_schemathesis_gateway")
        yield from _serve_in_thread()


def _serve_in_thread() -> Iterator[dict[str, str]]:
    state: dict[str, Any] = {}
    ready = threading.Event()

    async def serve() -> None:
        stop = asyncio.Event()
        state["stop"] = stop
        state["loop"] = asyncio.get_running_loop()
        try:
            async with running_gateway() as gw:
                state["admin"] = str(gw.admin.make_url("")).rstrip("/")
                state["public"] = f"http://{gw.client.host}:{gw.client.port}"
                ready.set()
                await stop.wait()
        finally:
            ready.set()

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # reported by the fixture, not lost in the thread
            state["error"] = exc

    thread = threading.Thread(target=run, name="admin-under-test")
    thread.start()
    try:
        assert ready.wait(30), "the gateway did not start"
        assert "admin" in state, f"the gateway failed to start: {state.get('error')!r}"
        yield {"admin": state["admin"], "public": state["public"]}
    finally:
        if "loop" in state:
            state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(30)
        assert "error" not in state, state.get("error")


@pytest.fixture(scope="module")
def admin_url(urls: dict[str, str]) -> str:
    return urls["admin"]


@pytest.fixture(scope="module")
def seeded(admin_url: str) -> dict[str, str]:
    """Ids that exist, so generated calls also reach the success paths (not only 404s)."""
    with requests.Session() as http:
        http.headers.update(admin_headers())
        plan: dict[str, Any] = {
            "id": "gold",
            "name": "Gold",
            "rate": 5,
            "burst": 10,
            "quota_day": 100,
        }
        assert http.post(f"{admin_url}/admin/plans", json=plan, timeout=5).status_code == 201
        key = http.post(
            f"{admin_url}/admin/keys", json={"name": "seed", "plan_id": "gold"}, timeout=5
        )
        assert key.status_code == 201
        block: dict[str, Any] = {"ip": BLOCKED_IP, "seconds": 60}
        assert http.post(f"{admin_url}/admin/waf/blocks", json=block, timeout=5).ok
        return {"plan": "gold", "key": key.json()["id"]}


def problem_for_errors(
    ctx: Any, response: schemathesis.Response, case: schemathesis.Case[Any]
) -> None:
    """Every error either port answers is RFC 9457 problem+json with its status inside."""
    if response.status_code < 400:
        return
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/problem+json"), (
        f"{response.status_code} answered as {content_type!r}"
    )
    assert response.json()["status"] == response.status_code


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
    problem_for_errors,
]
ADMIN_SCHEMA = schemathesis.openapi.from_dict(build_admin())
OPERATIONS = sorted(documented(build_admin()), key=lambda pair: (pair[1], pair[0]))
PUBLIC_SCHEMA = schemathesis.openapi.from_dict(build_public())
# The proxy operations relay whatever an upstream answers; their gateway errors are covered by
# tests/integration/gateway/test_gateway_e2e.py.
PUBLIC_OPERATIONS = sorted(pair for pair in documented(build_public()) if pair[1] != "/{path}")


def known_parameters(path: str, ids: dict[str, str]) -> dict[str, str] | None:
    if path.startswith("/admin/plans/"):
        return {"id": ids["plan"]}
    if path.startswith("/admin/keys/"):
        return {"id": ids["key"]}
    if path.startswith("/admin/usage/"):
        return {"key_id": ids["key"]}
    if path.startswith("/admin/waf/blocks/"):
        return {"ip": BLOCKED_IP}
    return None


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_schemathesis_finds_no_violation(
    method: str, path: str, admin_url: str, seeded: dict[str, str]
) -> None:
    operation = ADMIN_SCHEMA[path][method]
    strategies = [
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ]
    known = known_parameters(path, seeded)
    if known is not None:
        strategies.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=known))

    run(st.one_of(strategies), admin_url, admin_headers(), CHECKS)


@pytest.mark.parametrize(
    ("method", "path"), PUBLIC_OPERATIONS, ids=[f"{m} {p}" for m, p in PUBLIC_OPERATIONS]
)
def test_schemathesis_finds_no_violation_on_the_public_port(
    method: str, path: str, urls: dict[str, str]
) -> None:
    strategy = PUBLIC_SCHEMA[path][method].as_strategy(GenerationMode.POSITIVE)
    run(strategy, urls["public"], {}, [check for check in CHECKS if check is not ignored_auth])


def run(strategy: Any, base_url: str, headers: dict[str, str], checks: list[Any]) -> None:
    """Call and validate generated cases: few examples, derandomized (same cases every run)."""
    with requests.Session() as http:

        @settings(
            max_examples=MAX_EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def check(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(base_url=base_url, session=http, headers=headers, checks=checks)

        check()
