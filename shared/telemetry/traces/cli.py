"""`traces`: an X-Ray-like view of the local span files, with no tracing backend.

    traces map [--since 15m]              nodes and edges: calls, error/throttle/fault %, p50/p99
    traces show <trace_id> [--logs]       one trace as an indented waterfall (id prefix accepted);
                                          `*` marks the critical path, --logs adds its log lines
    traces show --last                    the most recently started trace
    traces list [--limit N] [--since 1h]  recent traces
    traces find '<expression>'            traces an X-Ray filter expression matches, e.g.
                                          'service("waitingroom") { fault } OR duration > 2'
    traces serve [--port 8095]            the console: map, search, groups, timelines
Spans are read from SPANS_DIR (default .run/spans, every file in it) or `--dir`/`--file`.
Every command but serve takes `--json` for machine-readable output.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from shared.settings import PlatformSettings
from shared.telemetry.traces.filters import FilterError
from shared.telemetry.traces.query import (
    Window,
    critical_path,
    find,
    load,
    parse_span_of_time,
    trace_logs,
)
from shared.telemetry.traces.servicemap import build_service_map
from shared.telemetry.traces.settings import TracesSettings
from shared.telemetry.traces.spanfile import (
    SpanRecord,
    TraceSummary,
    find_trace,
    list_traces,
    summarize,
    waterfall,
)

BAR_WIDTH = 40


def _seconds(text: str) -> float:
    try:
        return parse_span_of_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    # Options on a parent with SUPPRESS defaults so `traces --json map` and `traces map --json`
    # both work without the subcommand resetting what the main parser read.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dir", type=Path, default=argparse.SUPPRESS, help="span folder")
    common.add_argument("--file", type=Path, default=argparse.SUPPRESS, help="one span file")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    common.add_argument(
        "--since", type=_seconds, default=argparse.SUPPRESS, help="only traces that started "
        "within this long (90s, 15m, 2h, 1d)",
    )  # fmt: skip
    parser = argparse.ArgumentParser(
        prog="traces",
        description=__doc__,
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("map", parents=[common], help="print the service map")
    show = sub.add_parser("show", parents=[common], help="print one trace as a waterfall")
    show.add_argument("trace_id", nargs="?")
    show.add_argument("--last", "--latest", action="store_true", dest="last")
    show.add_argument("--logs", action="store_true", help="the log lines carrying its id")
    lst = sub.add_parser("list", parents=[common], help="list recent traces")
    lst.add_argument("--limit", type=int, default=20)
    fnd = sub.add_parser("find", parents=[common], help="traces a filter expression matches")
    fnd.add_argument("expression")
    fnd.add_argument("--limit", type=int, default=20)
    serve = sub.add_parser("serve", parents=[common], help="the trace console (web page)")
    serve.add_argument("--port", type=int, default=None, help="default TRACES_PORT (8095)")
    serve.add_argument("--host", default=None, help="default TRACES_HOST (127.0.0.1)")
    return parser


def _pct(value: float) -> str:
    return f"{value:.1f}"


def cmd_map(spans: list[SpanRecord], as_json: bool, out: TextIO) -> int:
    graph = build_service_map(spans).as_dict()
    if as_json:
        json.dump(graph, out, indent=2)
        out.write("\n")
        return 0
    traces = len({s.trace_id for s in spans})
    out.write(f"service map from {len(spans)} spans, {traces} traces\n\n")
    out.write(
        f"{'node':<44} {'calls':>6} {'err%':>6} {'thr%':>6} {'flt%':>6} {'p50 ms':>9}"
        f" {'p99 ms':>9}  health\n"
    )
    for node in graph["nodes"]:
        label = f"[{node['type']}] {node['name']}"
        out.write(f"{label:<44} {_figures(node)}  {node['health']}\n")
    for kind, title in (
        ("request", "requests"),
        ("session", "WebSocket sessions (not in request latency)"),
    ):
        edges = [e for e in graph["edges"] if e["kind"] == kind]
        if not edges:
            continue
        out.write(
            f"\n{title:<44} {'calls':>6} {'err%':>6} {'thr%':>6} {'flt%':>6} {'p50 ms':>9}"
            f" {'p99 ms':>9}\n"
        )
        for e in edges:
            out.write(f"{e['source'] + ' -> ' + e['target']:<44} {_figures(e)}\n")
    return 0


def _figures(row: dict[str, Any]) -> str:
    return (
        f"{row['count']:>6} {_pct(row['error_pct']):>6} {_pct(row['throttle_pct']):>6}"
        f" {_pct(row['fault_pct']):>6} {row['p50_ms']:>9.2f} {row['p99_ms']:>9.2f}"
    )


def _bar(offset_ms: float, duration_ms: float, total_ms: float, block: str) -> str:
    scale = BAR_WIDTH / total_ms if total_ms > 0 else 0.0
    start = min(int(offset_ms * scale), BAR_WIDTH - 1)
    width = max(1, round(duration_ms * scale))
    width = min(width, BAR_WIDTH - start)
    return "|" + " " * start + block * width + " " * (BAR_WIDTH - start - width) + "|"


def show_rows(spans: list[SpanRecord]) -> list[dict[str, Any]]:
    origin = min(s.start_ns for s in spans)
    critical = critical_path(spans)
    return [
        {
            "depth": depth,
            "offset_ms": round((span.start_ns - origin) / 1e6, 3),
            "duration_ms": round(span.duration_ms, 3),
            "service": span.service,
            "kind": span.kind,
            "name": span.name,
            "status": span.status,
            "error": span.is_error,
            "critical": span.span_id in critical,
            "span_id": span.span_id,
            "parent_span_id": span.parent_span_id,
            "links": [{"trace_id": t, "span_id": s} for t, s in span.links],
            "attributes": span.attributes,
        }
        for depth, span in waterfall(spans)
    ]


def cmd_show(
    trace_id: str, spans: list[SpanRecord], logs: list[dict[str, str]] | None, as_json: bool,
    out: TextIO,
) -> int:  # fmt: skip
    summary = summarize(trace_id, spans)
    rows = show_rows(spans)
    if as_json:
        doc: dict[str, Any] = {
            "trace_id": trace_id,
            "duration_ms": round(summary.duration_ms, 3),
            "services": summary.services,
            "spans": rows,
        }
        if logs is not None:
            doc["logs"] = logs
        json.dump(doc, out, indent=2)
        out.write("\n")
        return 0
    block = "█" if (getattr(out, "encoding", None) or "").lower().startswith("utf") else "#"
    out.write(
        f"trace {trace_id}  {summary.span_count} spans  {summary.duration_ms:.2f} ms  "
        f"services: {', '.join(summary.services)}\n\n"
    )
    out.write(
        f"{'offset':>9} {'dur ms':>9} {'':<{BAR_WIDTH + 2}} {'service':<14} {'kind':<9} name"
        "  (* critical path)\n"
    )
    for row in rows:
        bar = _bar(row["offset_ms"], row["duration_ms"], summary.duration_ms, block)
        mark = "*" if row["critical"] else " "
        name = "  " * row["depth"] + row["name"] + ("  !ERROR" if row["error"] else "")
        if row["links"]:
            name += f"  (links {len(row['links'])})"
        out.write(
            f"{row['offset_ms']:>9.2f} {row['duration_ms']:>9.2f} {bar} "
            f"{row['service']:<14} {row['kind']:<9}{mark}{name}\n"
        )
    if logs is not None:
        out.write(f"\nlog lines with this trace id ({len(logs)}):\n")
        for entry in logs:
            out.write(f"  {entry['file']}: {entry['line']}\n")
    return 0


def cmd_list(summaries: list[TraceSummary], as_json: bool, out: TextIO) -> int:
    if as_json:
        json.dump([vars(s) for s in summaries], out, indent=2)
        out.write("\n")
        return 0
    out.write(f"{'trace_id':<32}  {'spans':>5} {'ms':>9}  {'root':<40} services\n")
    for s in summaries:
        flag = " !" if s.error_count else ""
        out.write(
            f"{s.trace_id:<32}  {s.span_count:>5} {s.duration_ms:>9.2f}  "
            f"{s.root_name[:40]:<40} {', '.join(s.services)}{flag}\n"
        )
    return 0


def report_filter_error(expression: str, error: FilterError, err: TextIO) -> None:
    """The expression, a caret under the column, and the message."""
    err.write(f"traces: bad filter expression\n  {expression}\n  {' ' * (error.column - 1)}^\n")
    err.write(f"  {error}\n")


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = _parser().parse_args(argv)
    out = out or sys.stdout
    path: Path = (
        getattr(args, "file", None) or getattr(args, "dir", None) or PlatformSettings().spans_dir
    )
    as_json: bool = getattr(args, "json", False)
    if args.command == "serve":
        from shared.telemetry.traces.console.server import serve

        settings = TracesSettings()
        return serve(
            path,
            settings,
            host=args.host or settings.host,
            port=settings.port if args.port is None else args.port,
        )
    spans = load(path, Window.last(getattr(args, "since", None)))
    if not spans:
        print(f"traces: no spans in {path}", file=sys.stderr)
    if args.command == "map":
        return cmd_map(spans, as_json, out)
    if args.command == "list":
        return cmd_list(list_traces(spans, args.limit), as_json, out)
    if args.command == "find":
        try:
            found = find(spans, args.expression, args.limit)
        except FilterError as exc:
            report_filter_error(args.expression, exc, sys.stderr)
            return 2
        return cmd_list(found, as_json, out)
    if args.last or not args.trace_id:
        recent = list_traces(spans, 1)
        hit = (
            (recent[0].trace_id, [s for s in spans if s.trace_id == recent[0].trace_id])
            if recent
            else None
        )
    else:
        hit = find_trace(spans, args.trace_id)
    if hit is None:
        print(f"traces: trace {args.trace_id or '(latest)'} not found in {path}", file=sys.stderr)
        return 1
    logs = trace_logs(TracesSettings().logs_dir, hit[0]) if args.logs else None
    return cmd_show(hit[0], hit[1], logs, as_json, out)


if __name__ == "__main__":
    raise SystemExit(main())
