"""The service map (X-Ray style) derived from spans: who calls whom, how often, how fast.

Nodes are services, Kafka topics and stores. Edges:
- service -> topic    for PRODUCER spans (`messaging.destination.name`)
- topic -> service    for CONSUMER spans
- service -> service  for a CLIENT span whose child SERVER span belongs to another service
- service -> store    for database spans (`db.system` + `db.namespace`), and for CLIENT spans
                      with no traced server (peer.service or server.address)
- client -> service   for SERVER spans with no parent (requests entering the system)
Each edge aggregates call count, error % and p50/p99 of the calling span's duration.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from shared.telemetry.spanfile import SpanRecord, percentile

Node = tuple[str, str]  # (type, name): type is service | topic | store | client


@dataclass
class Edge:
    source: Node
    target: Node
    durations_ms: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def count(self) -> int:
        return len(self.durations_ms)

    @property
    def error_pct(self) -> float:
        return 100.0 * self.errors / self.count if self.count else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source[1],
            "source_type": self.source[0],
            "target": self.target[1],
            "target_type": self.target[0],
            "count": self.count,
            "errors": self.errors,
            "error_pct": round(self.error_pct, 2),
            "p50_ms": round(percentile(self.durations_ms, 50), 3),
            "p99_ms": round(percentile(self.durations_ms, 99), 3),
        }


@dataclass
class ServiceMap:
    nodes: set[Node] = field(default_factory=set)
    edges: dict[tuple[Node, Node], Edge] = field(default_factory=dict)

    def add(self, source: Node, target: Node, span: SpanRecord) -> None:
        self.nodes.update((source, target))
        edge = self.edges.get((source, target))
        if edge is None:
            edge = self.edges[(source, target)] = Edge(source, target)
        edge.durations_ms.append(span.duration_ms)
        edge.errors += span.is_error

    def as_dict(self) -> dict[str, Any]:
        nodes = [{"type": t, "name": n} for t, n in sorted(self.nodes)]
        edges = [e.as_dict() for _, e in sorted(self.edges.items())]
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


def build_service_map(spans: Iterable[SpanRecord]) -> ServiceMap:
    spans = list(spans)
    by_id = {(s.trace_id, s.span_id): s for s in spans}
    server_children: dict[tuple[str, str], list[SpanRecord]] = defaultdict(list)
    for span in spans:
        if span.kind == "SERVER" and span.parent_span_id:
            server_children[(span.trace_id, span.parent_span_id)].append(span)

    graph = ServiceMap()
    for span in spans:
        me: Node = ("service", span.service)
        graph.nodes.add(me)
        topic = span.attr("messaging.destination.name")
        if span.kind == "PRODUCER" and topic:
            graph.add(me, ("topic", str(topic)), span)
        elif span.kind == "CONSUMER" and topic:
            graph.add(("topic", str(topic)), me, span)
        elif span.attr("db.system", "db.system.name"):
            graph.add(me, ("store", store_name(span) or "db"), span)
        elif span.kind == "CLIENT":
            remote = [c for c in server_children.get((span.trace_id, span.span_id), [])]
            others = {c.service for c in remote if c.service != span.service}
            if others:
                for service in sorted(others):
                    graph.add(me, ("service", service), span)
            elif not remote and (peer := store_name(span)):
                graph.add(me, ("store", peer), span)
        elif span.kind == "SERVER" and (
            not span.parent_span_id or (span.trace_id, span.parent_span_id) not in by_id
        ):
            # no traced caller: a request entering the system from outside
            graph.add(("client", "client"), me, span)
    return graph
