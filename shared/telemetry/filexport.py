"""A SpanExporter that appends finished spans as JSON lines to a local file.

This is the backend-less default (no OTLP endpoint): the `traces` tools read the folder. Each
process writes a file of its own (`<SPANS_DIR>/<service>-<pid>.jsonl`) and rotates it itself
(see `JsonlFileSpanExporter`); each export is one `os.write` on an `O_APPEND` descriptor, so a
reader never sees two exports interleaved. The exporter never raises into the application: a
full disk or a deleted directory costs spans, not requests.

`JsonlFileSpanProcessor` is how services write the file (setup.py). It encodes each span when it
ends, on the thread that ends it, and leaves only the file write to a background thread. The
SDK's BatchSpanProcessor instead hands span objects to its thread, which then encoded a whole
batch (hundreds of spans, 10+ ms) holding the GIL: the event loop waited for the interpreter's
switch interval (5 ms) at each hand-over, and the fixed-rate bench's p99 doubled. Encoding one
span costs a few microseconds wherever it runs, so the loop pays it in small even slices and the
writer thread holds the GIL only to join bytes (`os.write` releases it).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, StatusCode

log = logging.getLogger(__name__)

_STATUS = {StatusCode.OK: "OK", StatusCode.ERROR: "ERROR", StatusCode.UNSET: "UNSET"}
_KIND = {kind: kind.name for kind in SpanKind}  # `kind.name` is a descriptor call per span


def span_to_dict(span: ReadableSpan, service: str | None = None) -> dict[str, Any]:
    """The span-file record for one finished span (format documented in the brief).

    Attribute values go out as they are: OTel keeps scalars and tuples of scalars, which the
    encoder writes as JSON scalars and lists (anything else is `str()`ed, see `_ENCODER`)."""
    ctx = span.context
    parent = span.parent
    if service is None:
        service = service_name(span.resource)
    start = span.start_time or 0
    record: dict[str, Any] = {
        "trace_id": f"{ctx.trace_id:032x}" if ctx else "",
        "span_id": f"{ctx.span_id:016x}" if ctx else "",
        "parent_span_id": f"{parent.span_id:016x}" if parent else None,
        "name": span.name,
        "kind": _KIND.get(span.kind) or span.kind.name,
        "service": service,
        "start_ns": start,
        "end_ns": span.end_time or start,
        "status": _STATUS.get(span.status.status_code, "UNSET"),
        "attributes": _attributes(span),
    }
    links = span.links
    if links:  # a batch's records, the joins a decision admits: only on the spans that have them
        record["links"] = [
            {"trace_id": f"{link.context.trace_id:032x}", "span_id": f"{link.context.span_id:016x}"}
            for link in links
        ]
    return record


def service_name(resource: Resource) -> str:
    return str(resource.attributes.get("service.name", "unknown_service"))


def _attributes(span: ReadableSpan) -> Mapping[str, Any]:
    """The span's attributes, for encoding right away.

    `span.attributes` is a read-only proxy over a lock-guarded mapping, and copying it costs
    more than encoding the whole record; the plain dict underneath is read instead. An ended
    span refuses new attributes, so it no longer changes. Anything else is copied as before."""
    raw = getattr(span, "_attributes", None)
    if isinstance(raw, BoundedAttributes):
        return raw._dict
    return dict(span.attributes or ())


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


class RotatingFile:
    """Appends bytes to a file, one `os.write` per call, and rotates it past `max_bytes`:
    `x.jsonl` -> `x.1.jsonl` -> ... -> `x.<keep>.jsonl`, the oldest removed (`keep=0`: the file
    is begun anew). Never raises: a full disk or a deleted directory costs lines, not requests
    (a failure is logged once). `directory_of` set: the file is `<directory>/<name>-<pid><suffix>`,
    the pid read at each write so a forked worker writes a file of its own, and the files of
    the name's exited processes beyond the newest `keep` are removed when a process begins one.
    The span files and `make run`'s log files are written this way."""

    def __init__(
        self,
        path: Path | str,
        *,
        max_bytes: int | None = None,
        keep: int = 4,
        service: str | None = None,
        suffix: str = ".jsonl",
    ) -> None:
        self._fixed = Path(path)
        self._service = service  # set: `path` is a directory, one file per process in it
        self._suffix = suffix
        self.max_bytes, self.keep = max_bytes, keep
        self._open_path: Path | None = None
        self._size = 0
        self._warned = False

    @property
    def path(self) -> Path:
        if self._service is None:
            return self._fixed
        return self._fixed / f"{self._service}-{os.getpid()}{self._suffix}"

    def write(self, data: bytes) -> bool:
        """Append with one write; False (logged once) when the file is unusable."""
        try:
            path = self.path
            if path != self._open_path:
                self._begin(path)
            if (
                self.max_bytes is not None
                and self._size
                and self._size + len(data) > self.max_bytes
            ):
                self._rotate(path)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                view = memoryview(data)
                while view:  # a regular file takes it all at once; loop only for safety
                    written = os.write(fd, view)
                    view = view[written:]
            finally:
                os.close(fd)
            self._size += len(data)
        except Exception as exc:  # never break the app because tracing failed
            self._open_path = None  # look at the file afresh next time (deleted directory)
            self._warn("writing failed", exc)
            return False
        return True

    def _begin(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._size = path.stat().st_size
        except FileNotFoundError:
            self._size = 0
        self._open_path = path
        if self._service is not None:
            prune_exited(path.parent, self._service, self.keep, self._suffix)

    def _rotate(self, path: Path) -> None:
        stem, suffix = path.name.removesuffix(path.suffix), path.suffix
        rotated = [path.with_name(f"{stem}.{n}{suffix}") for n in range(1, self.keep + 1)]
        if rotated:
            rotated[-1].unlink(missing_ok=True)
            for older, newer in zip(reversed(rotated[1:]), reversed(rotated[:-1]), strict=True):
                if newer.exists():
                    newer.rename(older)
            path.rename(rotated[0])
        else:
            path.unlink(missing_ok=True)
        self._size = 0

    def _warn(self, what: str, exc: Exception) -> None:
        if not self._warned:
            self._warned = True
            log.warning("%s: %s", what, exc, extra={"file": str(self._fixed)})


class JsonlFileSpanExporter(RotatingFile, SpanExporter):
    """Append spans to a JSON-lines file (parent directory created on demand).

    `JsonlFileSpanExporter(path)` writes one fixed file, never rotated (tests, tools).
    `JsonlFileSpanExporter.per_process(directory, service, max_bytes, keep)` is what services
    use: `<directory>/<service>-<pid>.jsonl`, rotated to `<service>-<pid>.1.jsonl` ... past
    `max_bytes` (see `RotatingFile`). Disk use is bounded by
    (live processes x (keep + 1) + keep) x max_bytes per service. Only the owning process
    writes and rotates a file, so no lock across processes is needed.
    """

    @classmethod
    def per_process(
        cls, directory: Path | str, service: str, *, max_bytes: int | None, keep: int
    ) -> JsonlFileSpanExporter:
        return cls(directory, max_bytes=max_bytes, keep=keep, service=safe_name(service))

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        try:
            data = encode_spans(spans)
        except Exception as exc:  # never break the app because tracing failed
            self._warn("span file export failed", exc)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS if self.write(data) else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def safe_name(service: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]+", "_", service) or "unknown_service"


def prune_exited(directory: Path, service: str, keep: int, suffix: str = ".jsonl") -> None:
    """Remove the files of `service`'s exited processes beyond the newest `keep`."""
    pattern = re.compile(rf"{re.escape(service)}-(\d+)(?:\.\d+)?{re.escape(suffix)}")
    exited: list[tuple[float, Path]] = []
    try:
        entries = list(directory.iterdir())
    except OSError:
        return
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or _alive(int(match[1])):
            continue
        try:
            exited.append((entry.stat().st_mtime, entry))
        except OSError:
            continue
    exited.sort(reverse=True)
    for _, entry in exited[keep:]:
        entry.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


class JsonlFileSpanProcessor(SpanProcessor):
    """Encode each sampled span as it ends; a writer thread appends the lines to the file.

    Same knobs as the SDK's BatchSpanProcessor (OTEL_BSP_* in setup.py): lines are written every
    `schedule_delay_millis`, or sooner once `max_export_batch_size` are waiting; past
    `max_queue_size` waiting lines new spans are dropped (counted, and logged at the next write).
    """

    def __init__(
        self,
        exporter: JsonlFileSpanExporter,
        *,
        schedule_delay_millis: float = 500.0,
        max_queue_size: int = 2048,
        max_export_batch_size: int = 512,
    ) -> None:
        self.exporter = exporter
        self._delay = schedule_delay_millis / 1000
        self._max_queue = max_queue_size
        self._wake_at = max_export_batch_size
        self._lines: list[bytes] = []
        self._dropped = 0
        self._failed = False
        self._shutdown = False
        # One resource per tracer provider: its service name is looked up once, not per span.
        self._resource: Resource | None = None
        self._service = "unknown_service"
        self._start_writer()
        if hasattr(os, "register_at_fork"):  # a forked child gets its own lock and writer
            weak = weakref.WeakMethod(self._start_writer)
            os.register_at_fork(after_in_child=lambda: (method := weak()) and method())

    def _start_writer(self) -> None:
        self._lock = threading.Lock()  # guards _lines and _dropped
        self._write_lock = threading.Lock()  # keeps the writer and force_flush in order
        self._wake = threading.Event()
        self._lines = []
        self._writer = threading.Thread(target=self._run, name="JsonlFileSpanWriter", daemon=True)
        self._writer.start()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        ctx = span.context
        if self._shutdown or ctx is None or not ctx.trace_flags.sampled:
            return
        try:
            resource = span.resource
            if resource is not self._resource:
                self._service, self._resource = service_name(resource), resource
            line = _encode(span_to_dict(span, self._service))
        except Exception as exc:  # never break the request because tracing failed
            if not self._failed:
                self._failed = True
                log.warning("could not encode span %r: %s", span.name, exc)
            return
        with self._lock:
            if len(self._lines) >= self._max_queue:
                self._dropped += 1
                return
            self._lines.append(line)
            waiting = len(self._lines)
        if waiting == self._wake_at:
            self._wake.set()

    def _run(self) -> None:
        while not self._shutdown:
            self._wake.wait(self._delay)
            self._wake.clear()
            if not self._shutdown:
                self._flush()

    def _flush(self) -> None:
        with self._write_lock:
            with self._lock:
                lines, self._lines = self._lines, []
                dropped, self._dropped = self._dropped, 0
            if dropped:
                log.warning("span file queue full: dropped %d spans", dropped)
            if lines:
                lines.append(b"")
                self.exporter.write(b"\n".join(lines))

    def shutdown(self) -> None:
        if self._shutdown:
            return
        self._shutdown = True
        self._wake.set()
        if self._writer is not threading.current_thread():
            self._writer.join(timeout=5)
        self._flush()
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self._flush()
        return True
