"""Structured logs on stderr, correlated with traces.

One JSON object per line (or a readable line with LOG_FORMAT=text) with time, level, service,
logger, message, trace_id and span_id of the span current when the record was made, and the
record's `extra` fields. Secrets stay masked: pydantic `SecretStr` renders as `**********` and
extra fields whose name looks like a credential are replaced wholesale.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from opentelemetry import trace
from pydantic import SecretBytes, SecretStr

from shared.settings import PlatformSettings

_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_CREDENTIAL_WORDS = ("secret", "password", "passwd", "token", "authorization", "api_key", "cookie")
_MASK = "**********"


def _is_credential(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in _CREDENTIAL_WORDS)


def _jsonable(value: Any) -> Any:
    if isinstance(value, SecretStr | SecretBytes):
        return _MASK
    return str(value)


class TraceContextFilter(logging.Filter):
    """Stamp trace/span ids while still in the caller's context (formatting may happen later)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            record.trace_id = trace.format_trace_id(ctx.trace_id)
            record.span_id = trace.format_span_id(ctx.span_id)
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in vars(record).items():
        if key in _STANDARD_ATTRS or key in ("trace_id", "span_id") or key.startswith("_"):
            continue
        fields[key] = _MASK if _is_credential(key) else value
    return fields


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
            "trace_id": getattr(record, "trace_id", None),
            "span_id": getattr(record, "span_id", None),
        }
        for key, value in _extras(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=_jsonable, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S.%f")[:-3]
        line = f"{when} {record.levelname:<7} {self.service} {record.name}: {record.getMessage()}"
        pairs = dict(_extras(record))
        if trace_id := getattr(record, "trace_id", None):
            pairs["trace_id"] = trace_id
            pairs["span_id"] = getattr(record, "span_id", None)
        if pairs:
            # str(SecretStr) is already masked, so plain formatting is safe here
            line += " " + " ".join(f"{k}={v}" for k, v in pairs.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is *now* (pytest swaps it between tests)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._fixed = stream

    @property
    def stream(self) -> TextIO:
        return self._fixed if self._fixed is not None else sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass  # StreamHandler.__init__ assigns it; the property decides


def configure_logging(
    service: str, platform: PlatformSettings | None = None, *, stream: TextIO | None = None
) -> logging.Handler:
    """Install (or replace) the root handler; idempotent. Returns the handler."""
    platform = platform or PlatformSettings()
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_surge_handler", False)]:
        root.removeHandler(old)
    handler = _StderrHandler(stream)
    handler._surge_handler = True  # type: ignore[attr-defined]
    handler.addFilter(TraceContextFilter())
    text = platform.log_format == "text"
    handler.setFormatter(TextFormatter(service) if text else JsonFormatter(service))
    root.addHandler(handler)
    root.setLevel(platform.log_level.upper())
    return handler
