"""One request and the way to answer it: `Exchange`.

Heads are written as bytes in one `write` with the start of the body when it is known
(`respond`), or first and then the body as it comes (`start`, `write`, `end`). The framing of
the answer is the gateway's: Content-Length when the length is known, chunked otherwise (HTTP/1.1
clients), close-delimited for HTTP/1.0; no body on HEAD, 1xx, 204 and 304.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING

from services.gateway.dataplane.body import BodyStream
from services.gateway.dataplane.framing import FramingError
from services.gateway.request import ClientInfo, Request
from shared.http.problems import PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE, problem_body

if TYPE_CHECKING:
    from services.gateway.dataplane.server import Connection

RawHeaders = list[tuple[bytes, bytes]]
_REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}
_STATUS_LINES: dict[int, bytes] = {}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_CHUNKED = b"Transfer-Encoding: chunked\r\n"
_CLOSE = b"Connection: close\r\n"
_KEEP_ALIVE = b"Connection: keep-alive\r\n"
_LAST_CHUNK = b"0\r\n\r\n"


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        reason = _REASONS.get(status, b"Unknown")
        line = _STATUS_LINES[status] = b"HTTP/1.1 %d %s\r\n" % (status, reason)
    return line


def encode_headers(headers: Iterable[tuple[str, str]]) -> RawHeaders:
    return [
        (name.encode("latin-1"), value.encode("utf-8", "surrogateescape"))
        for name, value in headers
    ]


def bodiless(method: str, status: int) -> bool:
    return method == "HEAD" or status < 200 or status in (204, 304)


class Exchange:
    __slots__ = (
        "body",
        "chunked",
        "close_after",
        "conn",
        "ended",
        "gone",
        "head_sent",
        "no_body",
        "pending_refusal",
        "request",
        "started",
        "status",
        "task",
        "written",
    )

    def __init__(self, conn: Connection, request: Request, body: BodyStream | None) -> None:
        self.conn = conn
        self.request = request
        self.body = body
        self.task: asyncio.Task[None] | None = None
        self.head_sent = False
        self.ended = False
        self.chunked = False
        self.no_body = False
        self.close_after = False
        self.gone = False
        self.started = False
        self.status = 0
        self.written = 0
        self.pending_refusal: FramingError | None = None

    @classmethod
    def refusal(cls, conn: Connection, exc: FramingError) -> Exchange:
        request = Request(
            "GET", "/", [], client=ClientInfo(conn.peer, "http", conn.peer), keep_alive=False
        )
        exchange = cls(conn, request, None)
        exchange.pending_refusal = exc
        return exchange

    # --- the head -------------------------------------------------------------------------------

    def _head(self, status: int, headers: RawHeaders, length: int | None) -> bytes:
        self.status = status
        self.head_sent = True
        request = self.request
        self.no_body = bodiless(request.method, status)
        conn = self.conn
        keep = request.keep_alive and not conn.closing and not self.close_after
        if self.body is not None and not self.body.complete and status >= 300:
            keep = False  # answered before its body arrived: the connection ends with it
        parts = [status_line(status)]
        parts.extend(b"%s: %s\r\n" % pair for pair in headers)
        if length is not None:
            if not (status < 200 or status == 204):
                parts.append(b"Content-Length: %d\r\n" % length)
        elif not self.no_body:
            if request.version == "1.1":
                self.chunked = True
                parts.append(_CHUNKED)
            else:
                keep = False  # the end of the body is the end of the connection
        if not keep:
            self.close_after = True
            parts.append(_CLOSE)
        elif request.version == "1.0":
            parts.append(_KEEP_ALIVE)
        parts.append(b"\r\n")
        return b"".join(parts)

    def respond(self, status: int, headers: RawHeaders, body: bytes = b"") -> None:
        """The whole answer in one write."""
        if self.head_sent or self.gone:
            return
        head = self._head(status, headers, len(body))
        self.conn.write(head if self.no_body or not body else head + body)
        self.written = len(body)
        self.ended = True

    def start(self, status: int, headers: RawHeaders, length: int | None = None) -> None:
        """Write the head; the body follows with `write` and `end`."""
        if self.head_sent or self.gone:
            return
        self.conn.write(self._head(status, headers, length))

    def write(self, chunk: bytes) -> None:
        if self.no_body or not chunk or self.gone:
            return
        self.written += len(chunk)
        if self.chunked:
            self.conn.transport.writelines((b"%x\r\n" % len(chunk), chunk, b"\r\n"))
        else:
            self.conn.write(chunk)

    def end(self) -> None:
        if self.ended:
            return
        self.ended = True
        if self.chunked and not self.gone:
            self.conn.write(_LAST_CHUNK)

    async def drain(self) -> None:
        """Wait while the client reads slower than we write."""
        conn = self.conn
        if not conn.write_paused or self.gone:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not waiter.done():
                waiter.set_result(None)

        conn.on_writable.append(wake)
        await waiter

    def send_continue(self) -> None:
        if not self.head_sent and not self.gone:
            self.conn.write(_CONTINUE)

    # --- problems and failures ----------------------------------------------------------------

    def problem(
        self,
        status: int,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, object] | None = None,
        title: str | None = None,
        type_: str | None = None,
    ) -> None:
        payload = problem_body(status, detail, title=title, type_=type_, extra=extra)
        body = json.dumps(payload).encode()
        pairs = [(b"Content-Type", PROBLEM_CONTENT_TYPE.encode())]
        if headers:
            pairs.extend(encode_headers(headers.items()))
        self.respond(status, pairs, body)

    def fail(self) -> None:
        """The handler could not answer: a 500 if nothing was sent yet, else cut the
        connection (a half-sent answer must not look complete)."""
        if not self.head_sent:
            detail = "an internal error occurred in the gateway"
            self.close_after = True
            self.problem(500, detail)
        else:
            self.ended = True
            self.close_after = True
            self.conn.transport.abort()

    def send_refusal(self, exc: FramingError) -> None:
        self.close_after = True
        if exc.rule_id:  # a size limit: answered as the WAF answers it (waf/builtin.py)
            kind = PROBLEM_TYPE_BASE + f"waf-{exc.rule_id}"
            self.problem(exc.status, exc.detail, extra={"rule_id": exc.rule_id}, type_=kind)
        else:
            self.problem(exc.status, exc.detail, title="Malformed HTTP request")

    def lost(self, exc: BaseException) -> None:
        """The client connection is gone: stop the handler (it releases what it holds)."""
        self.gone = True
        if self.body is not None:
            self.body.fail(exc)
        task = self.task
        if task is not None and not task.done():
            task.cancel()
