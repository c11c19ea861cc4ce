"""`traces serve`: the trace console, a page over the span folder with no tracing backend.

    GET  /                          the page (static/index.html, app.js, app.css)
    GET  /vendor/cytoscape.min.js   the graph library, installed by `npm ci` at set-up (no CDN)
    GET  /api/map?filter=&since=&until=        the service map of the matching traces
    GET  /api/traces?filter=&since=&until=&limit=   trace summaries, newest first
    GET  /api/traces/{trace_id}     one trace: spans (depth, offsets, critical path) and logs
    GET  /api/groups                saved filter expressions ({name: expression})
    PUT  /api/groups/{name}         {"expression": "..."}: saved once it parses
    DELETE /api/groups/{name}

`since`/`until` are epoch seconds (the page's time range; default: the last TRACES_WINDOW_MINUTES).
A filter that does not parse is a 400 problem+json with `column` and `expected`, from the same
parser as `traces find`. Groups live in TRACES_GROUPS_FILE (`.run/trace-groups.json`). It binds
to TRACES_HOST (127.0.0.1) by default: it has no login.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from shared.http.problems import problem_response
from shared.telemetry.traces.filters import FilterError, compile_filter
from shared.telemetry.traces.query import Window, critical_path, find, load, trace_logs
from shared.telemetry.traces.servicemap import build_service_map
from shared.telemetry.traces.settings import TracesSettings
from shared.telemetry.traces.spanfile import find_trace, group_traces

log = logging.getLogger("traces.console")
HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
VENDOR = HERE / "node_modules" / "cytoscape" / "dist" / "cytoscape.min.js"
GROUP_NAME = re.compile(r"[A-Za-z0-9 _.\-]{1,64}")
MAX_GROUPS = 200
MAX_EXPRESSION = 2000
SPANS_DIR = web.AppKey("spans_dir", Path)
SETTINGS = web.AppKey("settings", TracesSettings)
GROUPS_LOCK = web.AppKey("groups_lock", asyncio.Lock)


def _window(request: web.Request) -> Window:
    settings = request.app[SETTINGS]
    try:
        since = request.query.get("since")
        until = request.query.get("until")
        since_s = float(since) if since else time.time() - settings.window_minutes * 60
        until_ns = int(float(until) * 1e9) if until else None
    except ValueError:
        raise web.HTTPBadRequest(text="since and until are epoch seconds") from None
    return Window(int(since_s * 1e9), until_ns)


def _filter(request: web.Request) -> str | None:
    expression = request.query.get("filter", "").strip()
    if len(expression) > MAX_EXPRESSION:
        raise web.HTTPBadRequest(text=f"a filter has at most {MAX_EXPRESSION} characters")
    return expression or None


def _bad_filter(exc: FilterError) -> web.Response:
    return problem_response(400, str(exc), title="Bad filter expression", extra=exc.as_dict())


async def _spans(request: web.Request) -> tuple[Any, str | None]:
    window, expression = _window(request), _filter(request)
    spans = await asyncio.to_thread(load, request.app[SPANS_DIR], window)
    return spans, expression


async def service_map(request: web.Request) -> web.Response:
    spans, expression = await _spans(request)
    try:
        if expression:
            wanted = {t.trace_id for t in find(spans, expression)}
            spans = [s for s in spans if s.trace_id in wanted]
    except FilterError as exc:
        return _bad_filter(exc)
    graph = build_service_map(spans).as_dict()
    graph["spans"], graph["traces"] = len(spans), len(group_traces(spans))
    return web.json_response(graph)


async def traces(request: web.Request) -> web.Response:
    spans, expression = await _spans(request)
    try:
        limit = max(1, min(int(request.query.get("limit", "100")), 1000))
    except ValueError:
        return problem_response(400, "limit is a number")
    try:
        found = find(spans, expression, limit)
    except FilterError as exc:
        return _bad_filter(exc)
    return web.json_response([vars(summary) for summary in found])


async def one_trace(request: web.Request) -> web.Response:
    trace_id = request.match_info["trace_id"].lower()
    if not re.fullmatch(r"[0-9a-f]{4,32}", trace_id):
        return problem_response(400, "a trace id is hexadecimal")
    spans = await asyncio.to_thread(load, request.app[SPANS_DIR])
    hit = find_trace(spans, trace_id)
    if hit is None:
        return problem_response(404, f"no trace {trace_id} in the span files")
    found_id, group = hit
    from shared.telemetry.traces.cli import show_rows  # one shape for `traces show --json`

    rows = show_rows(group)
    logs = await asyncio.to_thread(trace_logs, request.app[SETTINGS].logs_dir, found_id)
    critical = critical_path(group)
    return web.json_response(
        {"trace_id": found_id, "spans": rows, "critical": sorted(critical), "logs": logs}
    )


def _read_groups(path: Path) -> dict[str, str]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(loaded, dict):
        return {}
    return {str(k): str(v) for k, v in loaded.items()}


def _write_groups(path: Path, groups: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(groups, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(partial, path)  # a reader never sees half a file


async def list_groups(request: web.Request) -> web.Response:
    groups = await asyncio.to_thread(_read_groups, request.app[SETTINGS].groups_file)
    return web.json_response(groups)


async def put_group(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if not GROUP_NAME.fullmatch(name):
        return problem_response(400, "a group name is 1-64 letters, digits, spaces, _ . -")
    try:
        body = await request.json()
    except ValueError:
        return problem_response(400, 'the body is JSON: {"expression": "..."}')
    expression = body.get("expression") if isinstance(body, dict) else None
    if not isinstance(expression, str) or not expression.strip():
        return problem_response(400, 'the body is JSON: {"expression": "..."}')
    if len(expression) > MAX_EXPRESSION:
        return problem_response(400, f"a filter has at most {MAX_EXPRESSION} characters")
    try:
        compile_filter(expression)
    except FilterError as exc:
        return _bad_filter(exc)
    path = request.app[SETTINGS].groups_file
    async with request.app[GROUPS_LOCK]:
        groups = await asyncio.to_thread(_read_groups, path)
        if name not in groups and len(groups) >= MAX_GROUPS:
            return problem_response(409, f"at most {MAX_GROUPS} groups")
        groups[name] = expression
        await asyncio.to_thread(_write_groups, path, groups)
    return web.json_response({"name": name, "expression": expression})


async def delete_group(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    path = request.app[SETTINGS].groups_file
    async with request.app[GROUPS_LOCK]:
        groups = await asyncio.to_thread(_read_groups, path)
        if groups.pop(name, None) is None:
            return problem_response(404, f"no group {name!r}")
        await asyncio.to_thread(_write_groups, path, groups)
    return web.Response(status=204)


async def page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


async def vendor(request: web.Request) -> web.StreamResponse:
    if not VENDOR.exists():
        return problem_response(
            503, "the graph library is not installed: run `make traces ARGS=serve` (npm ci)"
        )
    return web.FileResponse(VENDOR, headers={"Cache-Control": "max-age=3600"})


@web.middleware
async def security_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    response: web.StreamResponse = await handler(request)
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def console_app(spans_dir: Path, settings: TracesSettings) -> web.Application:
    app = web.Application(middlewares=[security_headers], client_max_size=64 * 1024)
    app[SPANS_DIR], app[SETTINGS], app[GROUPS_LOCK] = spans_dir, settings, asyncio.Lock()
    app.router.add_get("/", page)
    app.router.add_get("/vendor/cytoscape.min.js", vendor)
    app.router.add_static("/static/", STATIC)
    app.router.add_get("/api/map", service_map)
    app.router.add_get("/api/traces", traces)
    app.router.add_get("/api/traces/{trace_id}", one_trace)
    app.router.add_get("/api/groups", list_groups)
    app.router.add_put("/api/groups/{name}", put_group)
    app.router.add_delete("/api/groups/{name}", delete_group)
    return app


def serve(spans_dir: Path, settings: TracesSettings, *, host: str, port: int) -> int:
    print(f"trace console on http://{host}:{port}/ reading {spans_dir} (Ctrl-C stops it)")
    web.run_app(console_app(spans_dir, settings), host=host, port=port, print=None)
    return 0
