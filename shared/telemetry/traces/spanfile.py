"""Reading the local span files (JSON lines written by `JsonlFileSpanExporter`) and shaping traces.

`read_spans` takes the span folder (every `*.jsonl` in it: one file per process, and their
rotated files) or one file. Files are appended to by running processes, so a reader may see a
half-written last line, and an old file may hold lines from earlier formats: both are skipped
rather than failing the command.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orjson import loads as _loads  # about ten times faster than json on span lines

_DECODE_ERRORS: tuple[type[Exception], ...] = (ValueError,)  # orjson's errors are ValueErrors


@dataclass(frozen=True)
class SpanRecord:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    service: str
    start_ns: int
    end_ns: int
    status: str = "UNSET"
    attributes: dict[str, Any] = field(default_factory=dict)
    # (trace id, span id) of the spans this one is linked to (a batch's records, a decision)
    links: tuple[tuple[str, str], ...] = ()

    @property
    def duration_ms(self) -> float:
        return max(self.end_ns - self.start_ns, 0) / 1e6

    @property
    def is_error(self) -> bool:
        return self.status == "ERROR"

    def attr(self, *names: str) -> Any:
        """The first of `names` present (semantic conventions renamed several attributes)."""
        for name in names:
            value = self.attributes.get(name)
            if value not in (None, ""):
                return value
        return None


def parse_span(obj: Any) -> SpanRecord | None:
    if not isinstance(obj, dict):
        return None
    try:
        attributes = obj.get("attributes") or {}
        return SpanRecord(
            trace_id=str(obj["trace_id"]),
            span_id=str(obj["span_id"]),
            parent_span_id=str(obj["parent_span_id"]) if obj.get("parent_span_id") else None,
            name=str(obj.get("name", "")),
            kind=str(obj.get("kind", "INTERNAL")).upper(),
            service=str(obj.get("service") or "unknown_service"),
            start_ns=int(obj["start_ns"]),
            end_ns=int(obj.get("end_ns") or obj["start_ns"]),
            status=str(obj.get("status", "UNSET")).upper(),
            attributes=dict(attributes) if isinstance(attributes, dict) else {},
            links=tuple(
                (str(link["trace_id"]), str(link["span_id"]))
                for link in obj.get("links") or ()
                if isinstance(link, dict)
            ),
        )
    except (KeyError, TypeError, ValueError):
        return None


def parse_lines(lines: Iterable[str]) -> list[SpanRecord]:
    spans = []
    for line in lines:
        if not line.strip():
            continue
        try:
            span = parse_span(_loads(line))
        except _DECODE_ERRORS:
            continue  # a line still being written by another process
        if span is not None:
            spans.append(span)
    return spans


def span_files(path: Path | str) -> list[Path]:
    """The span files at `path`: a folder's `*.jsonl` (oldest first) or the one file."""
    where = Path(path)
    if not where.is_dir():
        return [where]
    found = []
    for entry in where.glob("*.jsonl"):
        try:
            found.append((entry.stat().st_mtime, entry))
        except OSError:
            continue  # rotated away while listing
    return [entry for _, entry in sorted(found)]


def read_spans(path: Path | str, *, since_ns: int = 0) -> list[SpanRecord]:
    """All parseable spans in the folder or file (ending at or after `since_ns`); an absent
    file holds no spans. A file last written before `since_ns` is not read at all."""
    spans: list[SpanRecord] = []
    for file in span_files(path):
        try:
            if since_ns and file.stat().st_mtime_ns < since_ns:
                continue
            with file.open(encoding="utf-8", errors="replace") as fh:
                found = parse_lines(fh)
        except (FileNotFoundError, IsADirectoryError):
            continue
        spans.extend(s for s in found if s.end_ns >= since_ns) if since_ns else spans.extend(found)
    return spans


def group_traces(spans: Iterable[SpanRecord]) -> dict[str, list[SpanRecord]]:
    traces: dict[str, list[SpanRecord]] = defaultdict(list)
    for span in spans:
        traces[span.trace_id].append(span)
    return dict(traces)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (a value that was actually observed); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(math.ceil(pct / 100 * len(ordered)), 1)
    return ordered[rank - 1]


@dataclass(frozen=True)
class TraceSummary:
    trace_id: str
    root_name: str
    root_service: str
    services: list[str]
    span_count: int
    error_count: int
    start_ns: int
    duration_ms: float


def waterfall(spans: list[SpanRecord]) -> list[tuple[int, SpanRecord]]:
    """Spans in timeline order as (depth, span): depth-first, siblings by start time.

    A span whose parent is not in the file (not flushed yet, or from a process that exports
    elsewhere) is shown as a root, so nothing disappears from the view.
    """
    ids = {s.span_id for s in spans}
    children: dict[str | None, list[SpanRecord]] = defaultdict(list)
    for span in spans:
        parent = span.parent_span_id if span.parent_span_id in ids else None
        children[parent].append(span)
    ordered: list[tuple[int, SpanRecord]] = []
    seen: set[int] = set()
    stack = [(0, s) for s in sorted(children[None], key=_order, reverse=True)]
    while stack:
        depth, span = stack.pop()
        if id(span) in seen:
            continue
        seen.add(id(span))
        ordered.append((depth, span))
        kids = sorted(children.get(span.span_id, []), key=_order, reverse=True)
        stack.extend((depth + 1, kid) for kid in kids)
    # a parent cycle (corrupt ids) is unreachable from any root: still show those spans
    ordered.extend((0, s) for s in sorted(spans, key=_order) if id(s) not in seen)
    return ordered


def _order(span: SpanRecord) -> tuple[int, int]:
    return (span.start_ns, -span.end_ns)


def summarize(trace_id: str, spans: list[SpanRecord]) -> TraceSummary:
    tree = waterfall(spans)
    root = tree[0][1]
    services: list[str] = []
    for _, span in tree:
        if span.service not in services:
            services.append(span.service)
    start = min(s.start_ns for s in spans)
    end = max(s.end_ns for s in spans)
    return TraceSummary(
        trace_id=trace_id,
        root_name=root.name,
        root_service=root.service,
        services=services,
        span_count=len(spans),
        error_count=sum(1 for s in spans if s.is_error),
        start_ns=start,
        duration_ms=(end - start) / 1e6,
    )


def list_traces(spans: Iterable[SpanRecord], limit: int | None = None) -> list[TraceSummary]:
    """Trace summaries, most recently started first."""
    summaries = [summarize(tid, group) for tid, group in group_traces(spans).items()]
    summaries.sort(key=lambda t: t.start_ns, reverse=True)
    return summaries if limit is None else summaries[:limit]


def find_trace(spans: Iterable[SpanRecord], trace_id: str) -> tuple[str, list[SpanRecord]] | None:
    """The trace with this id, or the only one starting with it (ids are long to type)."""
    traces = group_traces(spans)
    wanted = trace_id.lower().removeprefix("0x")
    if wanted in traces:
        return wanted, traces[wanted]
    matches = [tid for tid in traces if tid.startswith(wanted)]
    return (matches[0], traces[matches[0]]) if len(matches) == 1 else None
