"""The service map (X-Ray style) derived from spans: who calls whom, how often, how fast, how well.

Nodes are services, Kafka topics (`kafka:<topic>`), stores (`mongodb:<db>`, other peers), the
`client` (requests entering the system) and the WebSocket clients a service delivers to. Edges:
- service -> kafka:<topic>   PRODUCER spans (`messaging.destination.name`)
- kafka:<topic> -> service   CONSUMER spans
- service -> service         a CLIENT span whose child SERVER span belongs to another service
- service -> store           database spans, and CLIENT spans with no traced server
- client -> service          SERVER spans with no traced parent (requests entering the system)
- service -> websocket       deliveries to sockets (`surge.delivery`), one per delivery span

Each edge has a kind: `request` (everything above) or `session` (a WebSocket session: the
gateway's `websocket.session` span, the notifier's session span under the gateway's tunnel).
Sessions live for minutes, so they are their own edges and never count in request latency.

Every edge and node counts its calls as X-Ray classifies them, one class per call: `fault`
(5xx, or a span status ERROR with no 4xx), `throttle` (429), `error` (other 4xx) or `ok`, and
keeps p50/p99 and a latency histogram. A node's figures are its own work: a service's entry
spans (SERVER, CONSUMER and the roots it starts), or what its callers saw for a topic or store.
Health: `fault` when 1 % or more of the calls faulted, else `throttle`, else `error` on the
same rule, else `ok` (the console draws them red, purple, orange, green).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from shared.telemetry.traces.spanfile import SpanRecord, percentile

Node = tuple[str, str]  # (type, name): type is service | topic | store | client
CLIENT: Node = ("client", "client")
SOCKETS: Node = ("client", "websocket")
SESSION_SPAN = "websocket.session"
# Upper bounds (ms) of the latency histogram's buckets; the last bucket is open.
BUCKETS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
CLASSES = ("ok", "error", "throttle", "fault")
HEALTH_SHARE = 0.01


def classify(span: SpanRecord) -> str:
    """ok | error (4xx) | throttle (429) | fault (5xx, or an ERROR status without a 4xx)."""
    code = span.attr("http.response.status_code", "http.status_code")
    status = int(code) if isinstance(code, int | float | str) and str(code).isdigit() else 0
    if status == 429:
        return "throttle"
    if 400 <= status < 500:
        return "error"
    if status >= 500 or span.is_error:
        return "fault"
    return "ok"


def is_session(span: SpanRecord) -> bool:
    return span.name == SESSION_SPAN


@dataclass
class Stats:
    """Calls, their classes and durations, for a node or an edge."""

    durations_ms: list[float] = field(default_factory=list)
    classes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASSES, 0))
    spans: list[SpanRecord] = field(default_factory=list)  # kept only when asked (filters)
    keep_spans: bool = False

    def add(self, span: SpanRecord) -> None:
        self.durations_ms.append(span.duration_ms)
        self.classes[classify(span)] += 1
        if self.keep_spans:
            self.spans.append(span)

    @property
    def count(self) -> int:
        return len(self.durations_ms)

    def pct(self, kind: str) -> float:
        return 100.0 * self.classes[kind] / self.count if self.count else 0.0

    @property
    def health(self) -> str:
        for kind in ("fault", "throttle", "error"):
            if self.count and self.classes[kind] / self.count >= HEALTH_SHARE:
                return kind
        return "ok"

    def histogram(self) -> list[dict[str, Any]]:
        counts = [0] * (len(BUCKETS_MS) + 1)
        for value in self.durations_ms:
            index = next((i for i, top in enumerate(BUCKETS_MS) if value <= top), len(BUCKETS_MS))
            counts[index] += 1
        return [
            {"le_ms": top, "count": count}
            for top, count in zip((*BUCKETS_MS, None), counts, strict=True)
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "ok": self.classes["ok"],
            "errors": self.classes["error"],
            "throttles": self.classes["throttle"],
            "faults": self.classes["fault"],
            "error_pct": round(self.pct("error"), 2),
            "throttle_pct": round(self.pct("throttle"), 2),
            "fault_pct": round(self.pct("fault"), 2),
            "health": self.health,
            "p50_ms": round(percentile(self.durations_ms, 50), 3),
            "p99_ms": round(percentile(self.durations_ms, 99), 3),
            "histogram": self.histogram(),
        }


def node_name(node: Node) -> str:
    kind, name = node
    return f"kafka:{name}" if kind == "topic" else name


@dataclass
class ServiceMap:
    nodes: dict[Node, Stats] = field(default_factory=dict)
    edges: dict[tuple[Node, Node, str], Stats] = field(default_factory=dict)
    keep_spans: bool = False

    def node(self, node: Node) -> Stats:
        stats = self.nodes.get(node)
        if stats is None:
            stats = self.nodes[node] = Stats(keep_spans=self.keep_spans)
        return stats

    def add(self, source: Node, target: Node, span: SpanRecord, kind: str = "request") -> None:
        self.node(source)
        target_stats = self.node(target)
        if target[0] != "service" and kind == "request":
            target_stats.add(span)  # a topic's or store's figures: what its callers saw
        edge = self.edges.get((source, target, kind))
        if edge is None:
            edge = self.edges[(source, target, kind)] = Stats(keep_spans=self.keep_spans)
        edge.add(span)

    def as_dict(self) -> dict[str, Any]:
        nodes = [
            {"type": kind, "name": node_name((kind, name)), **stats.as_dict()}
            for (kind, name), stats in sorted(self.nodes.items())
        ]
        edges = [
            {
                "source": node_name(source),
                "source_type": source[0],
                "target": node_name(target),
                "target_type": target[0],
                "kind": kind,
                **stats.as_dict(),
            }
            for (source, target, kind), stats in sorted(self.edges.items())
        ]
        return {"nodes": nodes, "edges": edges}


def store_name(span: SpanRecord) -> str | None:
    """A readable store/peer name: `mongodb:<db>` for databases, the peer for HTTP clients."""
    system = span.attr("db.system", "db.system.name")
    if system:
        where = span.attr("db.namespace", "db.name", "server.address", "net.peer.name")
        return f"{system}:{where}" if where else str(system)
    peer = span.attr("peer.service")
    if peer:
        return str(peer)
    host = span.attr("server.address", "net.peer.name")
    port = span.attr("server.port", "net.peer.port")
    if not host:
        url = span.attr("url.full", "http.url")
        if not url:
            return None
        parts = urlsplit(str(url))
        host, port = parts.hostname, parts.port
    return f"{host}:{port}" if host and port else (str(host) if host else None)


def build_service_map(spans: Iterable[SpanRecord], *, keep_spans: bool = False) -> ServiceMap:
    spans = list(spans)
    by_id = {(s.trace_id, s.span_id): s for s in spans}
    server_children: dict[tuple[str, str], list[SpanRecord]] = defaultdict(list)
    for span in spans:
        if span.kind == "SERVER" and span.parent_span_id:
            server_children[(span.trace_id, span.parent_span_id)].append(span)

    graph = ServiceMap(keep_spans=keep_spans)
    for span in spans:
        me: Node = ("service", span.service)
        stats = graph.node(me)
        parent = by_id.get((span.trace_id, span.parent_span_id or ""))
        entry = span.kind in ("SERVER", "CONSUMER") or parent is None
        if entry and not is_session(span) and span.attr("surge.delivery") is None:
            stats.add(span)
        _edges(graph, me, span, parent, server_children)
    return graph


def _edges(
    graph: ServiceMap,
    me: Node,
    span: SpanRecord,
    parent: SpanRecord | None,
    server_children: dict[tuple[str, str], list[SpanRecord]],
) -> None:
    topic = span.attr("messaging.destination.name")
    if span.attr("surge.delivery") == "websocket":
        graph.add(me, SOCKETS, span)
    elif is_session(span):
        if parent is not None and parent.service != span.service:
            graph.add(("service", parent.service), me, span, "session")  # behind a tunnel
        else:
            graph.add(CLIENT, me, span, "session")  # the edge's own tunnel, from the client
    elif span.kind == "PRODUCER" and topic:
        graph.add(me, ("topic", str(topic)), span)
    elif span.kind == "CONSUMER" and topic:
        graph.add(("topic", str(topic)), me, span)
    elif span.attr("db.system", "db.system.name"):
        graph.add(me, ("store", store_name(span) or "db"), span)
    elif span.kind == "CLIENT":
        remote = server_children.get((span.trace_id, span.span_id), [])
        others = {c.service for c in remote if c.service != span.service}
        if others:
            for service in sorted(others):
                graph.add(me, ("service", service), span)
        elif not remote and (peer := store_name(span)):
            graph.add(me, ("store", peer), span)
    elif span.kind == "SERVER" and parent is None:
        graph.add(CLIENT, me, span)  # no traced caller: a request entering the system
