"""A SpanExporter that appends finished spans as JSON lines to a local file.

This is the backend-less default (no OTLP endpoint): the `traces` command reads the file.
Several processes of the local stack append to the same file, so each export is written with
one `os.write` on an `O_APPEND` descriptor: the kernel positions every write at the end of the
file, so lines from different processes never interleave. The exporter never raises into the
application: a full disk or a deleted directory costs spans, not requests.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode, format_span_id, format_trace_id

log = logging.getLogger(__name__)

_STATUS = {StatusCode.OK: "OK", StatusCode.ERROR: "ERROR", StatusCode.UNSET: "UNSET"}


def _json_value(value: Any) -> Any:
    # OTel attribute values are scalars or homogeneous sequences (tuples): JSON wants lists.
    if isinstance(value, str | bool | int | float) or value is None:
        return value
    if isinstance(value, Sequence):
        return [_json_value(v) for v in value]
    return str(value)


def span_to_dict(span: ReadableSpan) -> dict[str, Any]:
    """The span-file record for one finished span (format documented in the brief)."""
    ctx = span.context
    parent = span.parent
    attributes: Mapping[str, Any] = span.attributes or {}
    service = span.resource.attributes.get("service.name", "unknown_service")
    return {
        "trace_id": format_trace_id(ctx.trace_id) if ctx else "",
        "span_id": format_span_id(ctx.span_id) if ctx else "",
        "parent_span_id": format_span_id(parent.span_id) if parent else None,
        "name": span.name,
        "kind": span.kind.name,
        "service": str(service),
        "start_ns": span.start_time or 0,
        "end_ns": span.end_time or span.start_time or 0,
        "status": _STATUS.get(span.status.status_code, "UNSET"),
        "attributes": {k: _json_value(v) for k, v in attributes.items()},
    }


class JsonlFileSpanExporter(SpanExporter):
    """Append spans to `path` as JSON lines (parent directory created on demand)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._warned = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        try:
            data = "".join(
                json.dumps(span_to_dict(s), separators=(",", ":"), default=str) + "\n"
                for s in spans
            ).encode("utf-8")
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
