"""`traces`: an X-Ray-like view of the local span file, with no tracing backend.

    traces [--file F] map                 services, topics, stores; calls, error %, p50/p99
    traces [--file F] show <trace_id>     one trace as an indented waterfall (id prefix accepted)
    traces [--file F] show --last         the most recently started trace
    traces [--file F] list [--limit N]    recent traces
Every command takes `--json` for machine-readable output.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from shared.settings import PlatformSettings
from shared.telemetry.servicemap import build_service_map
from shared.telemetry.spanfile import (
    SpanRecord,
    find_trace,
    list_traces,
    read_spans,
    summarize,
    waterfall,
)

BAR_WIDTH = 40


def _parser() -> argparse.ArgumentParser:
    # Options on a parent with SUPPRESS defaults so `traces --json map` and `traces map --json`
    # both work without the subcommand resetting what the main parser read.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--file", type=Path, default=argparse.SUPPRESS, help="span file")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
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
    lst = sub.add_parser("list", parents=[common], help="list recent traces")
    lst.add_argument("--limit", type=int, default=20)
    return parser


def cmd_map(spans: list[SpanRecord], as_json: bool, out: TextIO) -> int:
    graph = build_service_map(spans).as_dict()
    if as_json:
        json.dump(graph, out, indent=2)
        out.write("\n")
        return 0
    out.write(f"service map from {len(spans)} spans\n\nnodes:\n")
    for node in graph["nodes"]:
        out.write(f"  [{node['type']}] {node['name']}\n")
    out.write(f"\n{'edge':<58} {'calls':>6} {'err%':>6} {'p50 ms':>9} {'p99 ms':>9}\n")
    for e in graph["edges"]:
        label = f"{e['source']} -> {e['target']}"
        out.write(
            f"{label:<58} {e['count']:>6} {e['error_pct']:>6.1f} {e['p50_ms']:>9.2f}"
            f" {e['p99_ms']:>9.2f}\n"
        )
    return 0


def _bar(offset_ms: float, duration_ms: float, total_ms: float, block: str) -> str:
    scale = BAR_WIDTH / total_ms if total_ms > 0 else 0.0
    start = min(int(offset_ms * scale), BAR_WIDTH - 1)
    width = max(1, round(duration_ms * scale))
    width = min(width, BAR_WIDTH - start)
    return "|" + " " * start + block * width + " " * (BAR_WIDTH - start - width) + "|"


def show_rows(spans: list[SpanRecord]) -> list[dict[str, Any]]:
    origin = min(s.start_ns for s in spans)
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
            "span_id": span.span_id,
            "parent_span_id": span.parent_span_id,
            "attributes": span.attributes,
        }
        for depth, span in waterfall(spans)
    ]


def cmd_show(trace_id: str, spans: list[SpanRecord], as_json: bool, out: TextIO) -> int:
    summary = summarize(trace_id, spans)
    rows = show_rows(spans)
    if as_json:
        doc = {
            "trace_id": trace_id,
            "duration_ms": round(summary.duration_ms, 3),
            "services": summary.services,
            "spans": rows,
        }
        json.dump(doc, out, indent=2)
        out.write("\n")
        return 0
    block = "█" if (getattr(out, "encoding", None) or "").lower().startswith("utf") else "#"
    out.write(
        f"trace {trace_id}  {summary.span_count} spans  {summary.duration_ms:.2f} ms  "
        f"services: {', '.join(summary.services)}\n\n"
    )
    out.write(
        f"{'offset':>9} {'dur ms':>9} {'':<{BAR_WIDTH + 2}} {'service':<14} {'kind':<9} name\n"
    )
    for row in rows:
        bar = _bar(row["offset_ms"], row["duration_ms"], summary.duration_ms, block)
        name = "  " * row["depth"] + row["name"] + ("  !ERROR" if row["error"] else "")
        out.write(
            f"{row['offset_ms']:>9.2f} {row['duration_ms']:>9.2f} {bar} "
            f"{row['service']:<14} {row['kind']:<9} {name}\n"
        )
    return 0


def cmd_list(spans: list[SpanRecord], limit: int, as_json: bool, out: TextIO) -> int:
    summaries = list_traces(spans, limit)
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


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = _parser().parse_args(argv)
    out = out or sys.stdout
    path: Path = getattr(args, "file", None) or PlatformSettings().spans_file
    as_json: bool = getattr(args, "json", False)
    spans = read_spans(path)
    if not spans:
        print(f"traces: no spans in {path}", file=sys.stderr)
    if args.command == "map":
        return cmd_map(spans, as_json, out)
    if args.command == "list":
        return cmd_list(spans, args.limit, as_json, out)
    if args.last or not args.trace_id:
        recent = list_traces(spans, 1)
        found = (
            (recent[0].trace_id, [s for s in spans if s.trace_id == recent[0].trace_id])
            if recent
            else None
        )
    else:
        found = find_trace(spans, args.trace_id)
    if found is None:
        print(f"traces: trace {args.trace_id or '(latest)'} not found in {path}", file=sys.stderr)
        return 1
    return cmd_show(found[0], found[1], as_json, out)


if __name__ == "__main__":
    raise SystemExit(main())
