"""Questions the `traces` command and the console both ask of the span folder: the spans of a
time range, the traces a filter expression matches, one trace's critical path and log lines."""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from shared.telemetry.traces.filters import compile_filter
from shared.telemetry.traces.matching import TraceView, matcher
from shared.telemetry.traces.spanfile import (
    SpanRecord,
    TraceSummary,
    group_traces,
    read_spans,
    summarize,
)

_SPAN = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d)?$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
LOG_LINES = 200  # at most, per trace


def parse_span_of_time(text: str) -> float:
    """`90s`, `15m`, `2h`, `1d` (or plain seconds) in seconds; ValueError otherwise."""
    match = _SPAN.match(text.strip().lower())
    if match is None:
        raise ValueError(f"not a span of time: {text!r} (examples: 90s, 15m, 2h, 1d)")
    return float(match[1]) * _UNIT[match[2]]


@dataclass(frozen=True)
class Window:
    """[since_ns, until_ns] in epoch nanoseconds; a trace is in it when it starts in it."""

    since_ns: int = 0
    until_ns: int | None = None

    @classmethod
    def last(cls, seconds: float | None, now: float | None = None) -> Window:
        if seconds is None:
            return cls()
        return cls(int(((now or time.time()) - seconds) * 1e9))

    def holds(self, start_ns: int) -> bool:
        return start_ns >= self.since_ns and (self.until_ns is None or start_ns <= self.until_ns)


def load(path: Path, window: Window = Window()) -> list[SpanRecord]:
    """The spans of the traces that start in the window (whole traces, never half of one)."""
    spans = read_spans(path, since_ns=window.since_ns)
    if not window.since_ns and window.until_ns is None:
        return spans
    starts: dict[str, int] = {}
    for span in spans:
        known = starts.get(span.trace_id)
        if known is None or span.start_ns < known:
            starts[span.trace_id] = span.start_ns
    return [s for s in spans if window.holds(starts[s.trace_id])]


def find(
    spans: Iterable[SpanRecord], expression: str | None, limit: int | None = None
) -> list[TraceSummary]:
    """Summaries of the traces the expression matches (all without one), newest first;
    `FilterError` for an expression that does not parse."""
    test = matcher(compile_filter(expression)) if expression and expression.strip() else None
    found = []
    for trace_id, group in group_traces(spans).items():
        if test is None or test(TraceView(trace_id, group)):
            found.append(summarize(trace_id, group))
    found.sort(key=lambda t: t.start_ns, reverse=True)
    return found if limit is None else found[:limit]


def critical_path(spans: list[SpanRecord]) -> set[str]:
    """Span ids on the trace's critical path (Jaeger's rule): from the root, the child that
    finishes last, then before its start the child that finishes last, and so on, each
    followed down the same way; an asynchronous hop (a consumer after its producer ended)
    counts, so the path runs to the span that finished last."""
    ids = {s.span_id for s in spans}
    children: dict[str | None, list[SpanRecord]] = defaultdict(list)
    for span in spans:
        children[span.parent_span_id if span.parent_span_id in ids else None].append(span)
    roots = sorted(children[None], key=lambda s: _reach(s, children), reverse=True)
    path: set[str] = set()
    if not roots:
        return path
    stack = [roots[0]]
    while stack:
        span = stack.pop()
        path.add(span.span_id)
        cursor: int | None = None
        for child in sorted(children.get(span.span_id, []), key=lambda s: -_reach(s, children)):
            if cursor is None or _reach(child, children) <= cursor:
                stack.append(child)
                cursor = child.start_ns
    return path


def _reach(span: SpanRecord, children: dict[str | None, list[SpanRecord]]) -> int:
    """When the span or anything under it ended."""
    end, stack, seen = span.end_ns, [span], set()
    while stack:
        current = stack.pop()
        if current.span_id in seen:
            continue
        seen.add(current.span_id)
        end = max(end, current.end_ns)
        stack.extend(children.get(current.span_id, []))
    return end


def trace_logs(logs_dir: Path, trace_id: str, limit: int = LOG_LINES) -> list[dict[str, str]]:
    """Log lines carrying the trace id, from every `*.log` file in the folder (`make run`
    writes one per service): `{"file", "line"}`, in file order."""
    found: list[dict[str, str]] = []
    try:
        files = sorted(logs_dir.glob("*.log*"))
    except OSError:
        return found
    for file in files:
        try:
            with file.open(encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    if trace_id in line:
                        found.append({"file": file.name, "line": line.rstrip("\n")[:4000]})
                        if len(found) >= limit:
                            return found
        except OSError:
            continue
    return found
