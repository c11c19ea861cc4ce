"""A SpanExporter that appends finished spans as JSON lines to a local file.

This is the backend-less default (no OTLP endpoint): the `traces` command reads the file.
Several processes of the local stack append to the same file, so each export is written with
one `os.write` on an `O_APPEND` descriptor: the kernel positions every write at the end of the
file, so lines from different processes never interleave. The exporter never raises into the
application: a full disk or a deleted directory costs spans, not requests.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

log = logging.getLogger(__name__)

_STATUS = {StatusCode.OK: "OK", StatusCode.ERROR: "ERROR", StatusCode.UNSET: "UNSET"}


def span_to_dict(span: ReadableSpan, service: str | None = None) -> dict[str, Any]:
    """The span-file record for one finished span (format documented in the brief).

    Attribute values go out as they are: OTel keeps scalars and tuples of scalars, which the
    encoder writes as JSON scalars and lists (anything else is `str()`ed, see `_ENCODER`)."""
    ctx = span.context
    parent = span.parent
    if service is None:
        service = str(span.resource.attributes.get("service.name", "unknown_service"))
    start = span.start_time or 0
    return {
        "trace_id": f"{ctx.trace_id:032x}" if ctx else "",
        "span_id": f"{ctx.span_id:016x}" if ctx else "",
        "parent_span_id": f"{parent.span_id:016x}" if parent else None,
        "name": span.name,
        "kind": span.kind.name,
        "service": service,
        "start_ns": start,
        "end_ns": span.end_time or start,
        "status": _STATUS.get(span.status.status_code, "UNSET"),
        "attributes": dict(span.attributes or ()),
    }


# Built once: `json.dumps` with any keyword builds a new encoder per call. The export thread
# holds the GIL while it encodes, so every microsecond here is taken from request handling.
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str, check_circular=False)
# Spans encoded between two GIL releases: a batch of 512 would otherwise keep request handling
# waiting for up to the interpreter's 5 ms switch interval.
_YIELD_EVERY = 64


def _load_orjson() -> Callable[..., bytes] | None:
    """orjson's `dumps` when installed (about ten times faster than `json`), else None."""
    try:
        module = importlib.import_module("orjson")
    except ImportError:
        return None
    dumps: Callable[..., bytes] = module.dumps
    return dumps


_fast_dumps = _load_orjson()


def _encode(record: dict[str, Any]) -> bytes:
    if _fast_dumps is not None:
        try:
            return _fast_dumps(record, default=str)
        except TypeError:  # an int beyond 64 bits, say: the standard encoder takes anything
            pass
    return _ENCODER.encode(record).encode("utf-8")


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """JSON lines for `spans`, one per span, each ending in a newline."""
    services: dict[int, str] = {}  # one resource per provider: look the name up once
    lines = []
    for index, span in enumerate(spans, 1):
        resource = span.resource
        service = services.get(id(resource))
        if service is None:
            name = resource.attributes.get("service.name", "unknown_service")
            service = services[id(resource)] = str(name)
        lines.append(_encode(span_to_dict(span, service)))
        if index % _YIELD_EVERY == 0:
            time.sleep(0)  # let the event loop thread have the GIL
    lines.append(b"")
    return b"\n".join(lines)


class JsonlFileSpanExporter(SpanExporter):
    """Append spans to `path` as JSON lines (parent directory created on demand)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._warned = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        try:
            data = encode_spans(spans)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                view = memoryview(data)
                while view:  # a regular file takes it all at once; loop only for safety
                    written = os.write(fd, view)
                    view = view[written:]
            finally:
                os.close(fd)
        except Exception as exc:  # never break the app because tracing failed
            if not self._warned:
                self._warned = True
                log.warning(
                    "span file export failed: %s", exc, extra={"spans_file": str(self.path)}
                )
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
