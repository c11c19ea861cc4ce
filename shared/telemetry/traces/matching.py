"""What a filter expression (`filters.py`) means on one trace, as X-Ray applies it.

Outside any `{ ... }`, keywords describe the trace: `duration` is the whole trace's length,
`responsetime` and `http.*` the entry request's (the trace's root span), `ok/error/fault/
throttle` whether any span of the trace is in that class (`ok`: none is in another), and
`annotation.<key>` any span's `surge.annotation.<key>`. Inside `service("x") { ... }` or
`id(...) { ... }` they describe that node's spans (`responsetime`: its entry spans, SERVER and
CONSUMER), inside `edge("a", "b") { ... }` the calls along that edge. A condition holds when
some span in its scope satisfies it; NOT negates what the condition says of the whole scope.
A trace matches when its spans satisfy every condition of the expression.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from shared.telemetry.traces.filters import And, Call, Condition, Expression, Not, Or
from shared.telemetry.traces.servicemap import build_service_map, classify, node_name
from shared.telemetry.traces.spanfile import SpanRecord, waterfall

ANNOTATION = "surge.annotation."
_ATTRS = {
    "http.status": ("http.response.status_code", "http.status_code"),
    "http.method": ("http.request.method", "http.method"),
    "http.url": ("url.full", "http.url", "url.path", "http.target", "http.route"),
}


@dataclass
class Scope:
    spans: Sequence[SpanRecord]
    entries: Sequence[SpanRecord]  # whose response time `responsetime` means
    trace: TraceView | None = None  # set outside any { }: trace-level meanings


@dataclass
class TraceView:
    trace_id: str
    spans: list[SpanRecord]
    _edges: dict[tuple[str, str], list[SpanRecord]] | None = field(default=None, repr=False)

    @cached_property
    def root(self) -> SpanRecord:
        return waterfall(self.spans)[0][1]

    @cached_property
    def duration_s(self) -> float:
        start = min(s.start_ns for s in self.spans)
        return (max(s.end_ns for s in self.spans) - start) / 1e9

    @cached_property
    def nodes(self) -> dict[tuple[str, str], list[SpanRecord]]:
        """(type, name) -> the spans of that node (a service's own; a topic's or store's
        callers'), names as the map prints them."""
        found: dict[tuple[str, str], list[SpanRecord]] = {}
        for span in self.spans:
            found.setdefault(("service", span.service), []).append(span)
        for (source, target), spans in self.edges.items():
            for kind_name in (source, target):
                if kind_name[0] != "service":
                    found.setdefault(kind_name, []).extend(spans)
        return found

    @cached_property
    def edges(self) -> dict[tuple[tuple[str, str], tuple[str, str]], list[SpanRecord]]:
        graph = build_service_map(self.spans, keep_spans=True)
        result: dict[tuple[tuple[str, str], tuple[str, str]], list[SpanRecord]] = {}
        for (source, target, _kind), stats in graph.edges.items():
            named = ((source[0], node_name(source)), (target[0], node_name(target)))
            result.setdefault(named, []).extend(stats.spans)
        return result


def matcher(expression: Expression) -> Callable[[TraceView], bool]:
    def matches(view: TraceView) -> bool:
        return _holds(expression, Scope(view.spans, [view.root], view), view)

    return matches


def _holds(expr: Expression, scope: Scope, view: TraceView) -> bool:
    if isinstance(expr, And):
        return _holds(expr.left, scope, view) and _holds(expr.right, scope, view)
    if isinstance(expr, Or):
        return _holds(expr.left, scope, view) or _holds(expr.right, scope, view)
    if isinstance(expr, Not):
        return not _holds(expr.operand, scope, view)
    if isinstance(expr, Call):
        inner = _call_scope(expr, view)
        if inner is None:
            return False
        return expr.scope is None or _holds(expr.scope, inner, view)
    return _condition(expr, scope)


def _call_scope(call: Call, view: TraceView) -> Scope | None:
    if call.function == "edge":
        source, target = call.names
        spans = [
            span
            for ((_, a), (_, b)), found in view.edges.items()
            if a == source and b == target
            for span in found
        ]
        return Scope(spans, spans) if spans else None
    wanted_type = "service" if call.function == "service" else call.node_type
    spans = [
        span
        for (kind, name), found in view.nodes.items()
        if name == call.names[0] and (wanted_type is None or kind == wanted_type)
        for span in found
    ]
    if not spans:
        return None
    entries = [s for s in spans if s.kind in ("SERVER", "CONSUMER")] or spans
    return Scope(spans, entries)


def _condition(cond: Condition, scope: Scope) -> bool:
    name = cond.field
    if name in ("ok", "error", "fault", "throttle"):
        classes = {classify(span) for span in scope.spans}
        truth = classes <= {"ok"} if name == "ok" else name in classes
        if cond.operator is None:
            return truth
        return (truth == cond.value) if cond.operator == "=" else (truth != cond.value)
    return any(_compare(value, cond.operator or "=", cond.value) for value in _values(name, scope))


def _values(name: str, scope: Scope) -> list[Any]:
    if name == "duration":
        if scope.trace is not None:
            return [scope.trace.duration_s]
        return [span.duration_ms / 1000 for span in scope.spans]
    if name == "responsetime":
        return [span.duration_ms / 1000 for span in scope.entries]
    spans = scope.entries if scope.trace is not None else scope.spans
    if name.startswith("annotation."):
        key = ANNOTATION + name.removeprefix("annotation.")
        return [s.attributes[key] for s in scope.spans if key in s.attributes]
    names = _ATTRS[name]
    return [value for s in spans if (value := s.attr(*names)) is not None]


def _compare(actual: Any, op: str, wanted: Any) -> bool:
    if isinstance(wanted, float) and not isinstance(wanted, bool):
        try:
            number = float(actual)
        except (TypeError, ValueError):
            return op == "!="
        return _ordered(number, op, wanted)
    if isinstance(wanted, bool):
        truth = actual if isinstance(actual, bool) else str(actual).lower() == "true"
        return (truth == wanted) if op == "=" else (truth != wanted)
    text, want = str(actual), str(wanted)
    if op == "contains":
        return want in text
    if op == "beginswith":
        return text.startswith(want)
    if op == "endswith":
        return text.endswith(want)
    if op in ("=", "!="):
        return (text == want) == (op == "=")
    return _ordered(text, op, want)


def _ordered(actual: Any, op: str, wanted: Any) -> bool:
    if op == "=":
        return bool(actual == wanted)
    if op == "!=":
        return bool(actual != wanted)
    if op == "<":
        return bool(actual < wanted)
    if op == "<=":
        return bool(actual <= wanted)
    if op == ">":
        return bool(actual > wanted)
    return bool(actual >= wanted)
