"""The trace console's API (`traces serve`) over synthetic span files: map, search with filter
expressions (errors with their column), one trace with its critical path and log lines, groups."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from shared.telemetry.traces.console.server import console_app
from shared.telemetry.traces.query import critical_path
from shared.telemetry.traces.settings import TracesSettings
from shared.telemetry.traces.spanfile import SpanRecord
from tests.unit.test_traces_cli import MS, one_trace, tid

pytestmark = pytest.mark.unit
OLD = {"since": "0"}  # the synthetic traces are dated 2027: a range that holds them


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    spans = tmp_path / "spans"
    spans.mkdir()
    for t in range(10):  # two processes' files, as services write them
        lines = [json.dumps(s) for s in one_trace(t)]
        with (spans / f"gateway-{100 + t % 2}.jsonl").open("a") as fh:
            fh.write("\n".join(lines) + "\n")
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "orders.log").write_text(
        f'{{"message": "order placed", "trace_id": "{tid(3)}"}}\n{{"message": "other"}}\n'
    )
    settings = TracesSettings(logs_dir=logs, groups_file=tmp_path / "trace-groups.json")
    async with TestClient(TestServer(console_app(spans, settings))) as client:
        yield client


async def test_the_map_and_a_filtered_search(console: TestClient[Any, Any]) -> None:
    graph = await (await console.get("/api/map", params=OLD)).json()
    assert graph["traces"] == 10
    edges = {(e["source"], e["target"]): e for e in graph["edges"]}
    assert edges[("gateway", "orders")]["fault_pct"] == 10.0
    assert len(edges[("gateway", "orders")]["histogram"]) == 14
    found = await console.get(
        "/api/traces", params={**OLD, "filter": 'service("orders") { fault }'}
    )
    assert [t["trace_id"] for t in await found.json()] == [tid(3)]
    slow = await console.get("/api/traces", params={**OLD, "filter": "duration >= 0.15"})
    assert {t["trace_id"] for t in await slow.json()} == {tid(9), tid(8), tid(7)}
    # the map of the matching traces only
    only = await console.get("/api/map", params={**OLD, "filter": 'service("orders") { fault }'})
    assert (await only.json())["traces"] == 1
    # a range of the last hour holds none of these traces
    now = time.time()
    recent = {"since": str(now - 3600), "until": str(now)}
    assert await (await console.get("/api/traces", params=recent)).json() == []


async def test_a_bad_filter_is_a_problem_with_its_column(console: TestClient[Any, Any]) -> None:
    answer = await console.get("/api/traces", params={**OLD, "filter": "fault AND )"})
    assert answer.status == 400
    assert answer.content_type == "application/problem+json"
    problem = await answer.json()
    assert problem["column"] == 11
    assert "a keyword (ok, error" in " ".join(problem["expected"])
    assert (await console.get("/api/traces", params={"since": "x"})).status == 400


async def test_one_trace_has_its_critical_path_and_log_lines(
    console: TestClient[Any, Any],
) -> None:
    doc = await (await console.get(f"/api/traces/{tid(3)[:6]}")).json()
    assert doc["trace_id"] == tid(3)
    critical = {row["name"] for row in doc["spans"] if row["critical"]}
    # the consumer finished last: the path runs root -> call -> orders -> publish -> consumer
    assert {"POST /orders", "POST /internal/orders", "orders.placed process"} <= critical
    assert "surge.insert" in critical  # before the publish, in sequence: on the path too
    assert [entry["file"] for entry in doc["logs"]] == ["orders.log"]
    assert (await console.get("/api/traces/zz")).status == 400
    assert (await console.get(f"/api/traces/{'f' * 32}")).status == 404


async def test_groups_are_saved_validated_and_deleted(
    console: TestClient[Any, Any], tmp_path: Path
) -> None:
    saved = await console.put(
        "/api/groups/orders faults", json={"expression": 'service("orders") { fault }'}
    )
    assert saved.status == 200
    assert json.loads((tmp_path / "trace-groups.json").read_text()) == {
        "orders faults": 'service("orders") { fault }'
    }
    bad = await console.put("/api/groups/bad", json={"expression": "duration >"})
    assert bad.status == 400
    assert (await bad.json())["column"] == 11
    assert (await console.put("/api/groups/x", data=b"not json")).status == 400
    assert (await console.put("/api/groups/%2F..%2F", json={"expression": "ok"})).status in (
        400,
        404,
    )
    assert await (await console.get("/api/groups")).json() == {
        "orders faults": 'service("orders") { fault }'
    }
    assert (await console.delete("/api/groups/orders faults")).status == 204
    assert (await console.delete("/api/groups/orders faults")).status == 404
    assert await (await console.get("/api/groups")).json() == {}


async def test_the_page_and_the_graph_library_are_served_locally(
    console: TestClient[Any, Any],
) -> None:
    page = await console.get("/")
    html = await page.text()
    assert 'src="/vendor/cytoscape.min.js"' in html
    assert "http" not in html.replace("http-equiv", "")  # no CDN, nothing off the machine
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    library = await console.get("/vendor/cytoscape.min.js")
    assert library.status == 200
    assert b"cytoscape" in await library.read()


def test_the_critical_path_skips_work_done_in_parallel() -> None:
    def span(sid: str, parent: str | None, start: int, end: int) -> SpanRecord:
        return SpanRecord("t", sid, parent, sid, "INTERNAL", "svc", start * MS, end * MS)

    spans = [
        span("root", None, 0, 100),
        span("slow", "root", 0, 90),  # the root waits for it
        span("parallel", "root", 10, 50),  # runs while `slow` runs: not what the root waited on
        span("after", "root", 92, 99),  # after `slow`: on the path
        span("inner", "slow", 5, 80),
    ]
    assert critical_path(spans) == {"root", "slow", "inner", "after"}
