"""Differential testing of the gateway's request framing against h11 (python-hyper's strict
HTTP/1.1 state machine), on hypothesis-generated requests with valid and malformed framing.

The oracle is h11's verdict, except where the gateway is stricter on purpose. Each of those is
a refusal RFC 9110/9112 allows and a proxy wants, because a server behind it may read the
request another way (request smuggling):

- bare LF line ends (RFC 9112 2.2: a recipient MAY accept them; h11 does);
- obs-fold (RFC 9112 5.2: reject or replace with SP; h11 replaces);
- Content-Length together with Transfer-Encoding (RFC 9112 6.1: MAY reject; h11 lets
  Transfer-Encoding win), and Content-Length repeated even with equal values (RFC 9110 8.6;
  h11 merges), also as a list (`Content-Length: 4, 4`);
- control characters in field values (RFC 9110 5.5: invalid, MAY be retained; h11 keeps them);
- whitespace after a chunk size with no extension after it (RFC 9112 7.1: BWS only before a
  `;`; h11 skips it);
- methods HTTP does not define (h11 takes any token) and targets that are not origin-form (a
  reverse proxy routes paths; h11 takes any visible characters);
- HTTP versions other than 1.0 and 1.1.

Whenever both accept, the messages must be the same: method, target, header fields (names
lower-cased, values without surrounding whitespace, in order) and body, pipelined requests
included. A second property runs generated requests through the running gateway and compares
what reaches the upstream with h11's reading of what the client sent.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import h11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dataplane.framing import FramingError, FramingLimits, Head, RequestFramer

pytestmark = pytest.mark.unit

KNOWN_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "PURGE")
METHODS = (*KNOWN_METHODS, "BREW", "get", "X-Y")
TARGET_CHARS = "abz09/?=&%-._~+!*',;:@$()" + " \x7f\x01é#"
VALUE_CHARS = "abcXYZ 09 ,;=/\t\"'()<>{}[]é" + "\x01\x0b\x7f"
NAMES = ("X-A", "Accept", "X-Forwarded-For", "Cookie", "User-Agent", "X B", "Ü", "X-A\t")
CTL = {chr(c) for c in range(0x20) if c != 0x09} | {"\x7f"}


@dataclass
class Message:
    method: bytes
    target: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass
class Sketch:
    """One generated request and what the gateway refuses in it on purpose."""

    raw: bytes
    deviates: bool


@dataclass
class Outcome:
    messages: list[Message] = field(default_factory=list)
    error: bool = False
    # h11 holds the first bytes of a next request line it has not judged yet (it judges a line
    # when it ends; llhttp byte by byte): either verdict is h11's.
    undecided: bool = False


@st.composite
def requests(draw: st.DrawFn) -> Sketch:
    method = draw(st.sampled_from(METHODS))
    target = draw(
        st.one_of(
            st.builds(lambda s: "/" + s, st.text(TARGET_CHARS, max_size=30)),
            st.sampled_from(["*", "http://example.com/x", "x/y"]),
        )
    )
    version = draw(st.sampled_from(["1.1", "1.1", "1.1", "1.0", "2.0"]))
    headers: list[tuple[str, str]] = []
    hosts = draw(st.sampled_from([1, 1, 1, 0, 2]))
    headers += [("Host", f"h{index}.example") for index in range(hosts)]
    for _ in range(draw(st.integers(0, 3))):
        value = draw(st.text(VALUE_CHARS, max_size=20))
        headers.append((draw(st.sampled_from(NAMES)), value))
    body = draw(st.binary(max_size=40))
    framing = draw(
        st.sampled_from(
            ["none", "length", "length", "short", "long", "bad-length", "twice", "list",
             "chunked", "chunked", "bad-chunk", "gzip-chunked", "Chunked", "both"]
        )
    )  # fmt: skip
    payload = b""
    spaced_size = False
    if framing in ("length", "both"):
        headers.append(("Content-Length", str(len(body))))
        payload = body
    elif framing == "short":
        headers.append(("Content-Length", str(max(0, len(body) - 3))))
        payload = body
    elif framing == "long":
        headers.append(("Content-Length", str(len(body) + 5)))
        payload = body
    elif framing == "bad-length":
        headers.append(("Content-Length", draw(st.sampled_from(["4a", "+4", "-1", " ", "0x4"]))))
        payload = body
    elif framing == "twice":
        headers += [("Content-Length", str(len(body)))] * 2
        payload = body
    elif framing == "list":
        headers.append(("Content-Length", f"{len(body)}, {len(body)}"))
        payload = body
    if framing in ("chunked", "both", "bad-chunk", "gzip-chunked", "Chunked"):
        coding = {"gzip-chunked": "gzip, chunked", "Chunked": "Chunked"}.get(framing, "chunked")
        headers.append(("Transfer-Encoding", coding))
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=3)))
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        chunked = b""
        spaced_size = False
        for piece in pieces:
            if not piece:
                continue
            size = b"%x" % len(piece)
            if framing == "bad-chunk":
                size = draw(st.sampled_from([b"zz", size + b" ", b"-" + size, size + b"g"]))
                spaced_size = spaced_size or size.endswith(b" ")
            ext = draw(st.sampled_from([b"", b"", b";a=b"]))
            chunked += size + ext + b"\r\n" + piece + b"\r\n"
        payload = chunked + b"0\r\n\r\n"
    bare_lf = draw(st.integers(0, 12)) == 0
    fold = bool(headers) and draw(st.integers(0, 12)) == 0
    draw(st.randoms()).shuffle(headers)
    lines = [f"{method} {target} HTTP/{version}".encode()]
    for name, value in headers:
        lines.append(name.encode("utf-8") + b": " + value.encode("utf-8"))
    if fold:
        lines.insert(2 if len(lines) > 2 else 1, b"  folded")
    head = b"\r\n".join(lines) + b"\r\n\r\n"
    if bare_lf:
        head = head.replace(b"\r\n", b"\n", 1)
    deviates = (
        bare_lf
        or fold
        or framing in ("both", "twice", "list")
        or spaced_size
        or method not in KNOWN_METHODS
        or version not in ("1.0", "1.1")
        or not (target.startswith("/") or (target == "*" and method == "OPTIONS"))
        or any(ch in CTL for _, value in headers for ch in value)
    )
    return Sketch(head + payload, deviates)


VALID = b"GET /first?a=1 HTTP/1.1\r\nHost: h.example\r\nX-Id: 1\r\n\r\n"


def with_h11(data: bytes) -> Outcome:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    outcome = Outcome()
    current: Message | None = None
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
                pending, _ = conn.trailing_data
                outcome.undecided = conn.their_state is h11.IDLE and bool(pending)
                return outcome
            if event is h11.PAUSED:
                conn.send(h11.Response(status_code=204, headers=[]))
                conn.send(h11.EndOfMessage())
                conn.start_next_cycle()
                continue
            if isinstance(event, h11.Request):
                current = Message(event.method, event.target, list(event.headers), b"")
            elif isinstance(event, h11.Data) and current is not None:
                current.body += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage) and current is not None:
                outcome.messages.append(current)
                current = None
    except h11.RemoteProtocolError:
        outcome.error = True
        return outcome


class _Collect:
    def __init__(self) -> None:
        self.outcome = Outcome()
        self.current: Message | None = None

    def on_head(self, head: Head) -> None:
        names = [(name.lower(), value) for name, value in head.raw_headers]
        self.current = Message(head.method.encode(), head.target.encode(), names, b"")

    def on_body(self, chunk: bytes) -> None:
        if self.current is not None:
            self.current.body += chunk

    def on_end(self) -> None:
        if self.current is not None:
            self.outcome.messages.append(self.current)
            self.current = None


def with_gateway(data: bytes) -> Outcome:
    sink = _Collect()
    framer = RequestFramer(sink, FramingLimits())
    try:
        framer.feed(data)
    except FramingError:
        sink.outcome.error = True
    return sink.outcome


def comparable(message: Message) -> tuple[Any, ...]:
    """h11 lower-cases Transfer-Encoding and rewrites Content-Length as a number; framing fields
    are compared by meaning, every other field byte for byte."""
    headers = [
        (name, value.lower() if name == b"transfer-encoding" else value)
        if name != b"content-length"
        else (name, b"%d" % int(value))
        for name, value in message.headers
    ]
    return (message.method, message.target, headers, message.body)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sketch=requests(), pipelined=st.booleans())
def test_the_gateway_frames_requests_as_h11_does(sketch: Sketch, pipelined: bool) -> None:
    data = (VALID if pipelined else b"") + sketch.raw
    expected, ours = with_h11(data), with_gateway(data)
    if sketch.deviates:
        assert ours.error, data
        assert [comparable(m) for m in ours.messages] == [
            comparable(m) for m in expected.messages[: int(pipelined)]
        ]
        return
    if not expected.undecided:
        assert ours.error == expected.error, data
    assert [comparable(m) for m in ours.messages] == [comparable(m) for m in expected.messages]


def test_each_documented_refusal_is_one_h11_accepts() -> None:
    """The oracle's exceptions are real differences, not h11 refusals relabelled."""
    cases = {
        "bare LF": b"GET / HTTP/1.1\nHost: h\n\n",
        "obs-fold": b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n",
        "CL and TE": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "CL twice": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n"
        b"Content-Length: 1\r\n\r\na",
        "control character": b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x01b\r\n\r\n",
        "unknown method": b"BREW / HTTP/1.1\r\nHost: h\r\n\r\n",
        "absolute-form": b"GET http://h/x HTTP/1.1\r\nHost: h\r\n\r\n",
        "HTTP/2.0 line": b"GET / HTTP/2.0\r\nHost: h\r\n\r\n",
        "space after chunk size": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
        b"\r\n1 \r\na\r\n0\r\n\r\n",
    }
    for name, data in cases.items():
        assert with_h11(data).messages, name
        assert with_gateway(data).error, name


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: h\r\n\r\n", 414),
        (b"GET /" + b"a" * 200_000, 414),  # refused before the line even ends
        (b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X-Pad: " + b"b" * 17_000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X-A: 1\r\n" * 101 + b"\r\n", 431),
        (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        (b"BREW / HTTP/1.1\r\nHost: h\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
        (b"CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n", 405),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET /  HTTP/1.1\r\nHost: h\r\n\r\n", 400),  # found by the differential test
    ],
)
def test_refusals_carry_their_status(data: bytes, status: int) -> None:
    with pytest.raises(FramingError) as refused:
        RequestFramer(_Collect()).feed(data)
    assert refused.value.status == status


# --- end to end: what reaches the upstream -----------------------------------------------------

# Fields the gateway sets, frames or drops itself (dataplane/headers.py); every other field the
# client sent must reach the upstream unchanged and in order.
_GATEWAY_FIELDS = {
    b"host",
    b"content-length",
    b"transfer-encoding",
    b"connection",
    b"keep-alive",
    b"te",
    b"trailer",
    b"upgrade",
    b"expect",
    b"x-forwarded-for",
    b"x-forwarded-proto",
    b"x-forwarded-host",
    b"x-request-id",
    b"traceparent",
    b"tracestate",
    b"forwarded",
    b"proxy-authorization",
    b"proxy-connection",
}


def end_to_end(message: Message) -> tuple[Any, ...]:
    kept = [
        (name, value)
        for name, value in message.headers
        if name not in _GATEWAY_FIELDS and not name.startswith(b"x-surge-")
    ]
    return (message.method, message.target, kept, message.body)


class _Capture(asyncio.Protocol):
    """An upstream that records the raw bytes of each request and answers 200 when h11 sees
    its end."""

    received: list[Message]

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.conn = h11.Connection(h11.SERVER)
        self.current: Message | None = None

    def data_received(self, data: bytes) -> None:
        self.conn.receive_data(data)
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self.current = Message(event.method, event.target, list(event.headers), b"")
            elif isinstance(event, h11.Data) and self.current is not None:
                self.current.body += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage) and self.current is not None:
                _Capture.received.append(self.current)
                self.current = None
                ok = h11.Response(status_code=200, headers=[("Content-Length", "0")])
                reply = (self.conn.send(ok) or b"") + (self.conn.send(h11.EndOfMessage()) or b"")
                self.transport.write(reply)
                self.conn.start_next_cycle()


@pytest.fixture
def edge() -> Iterator[int]:
    """The gateway in front of the capturing upstream, on an event loop in a thread of its own
    (hypothesis drives the test with blocking sockets); yields the gateway's port."""
    from services.gateway.settings import GatewaySettings
    from tests.gateway_support import serving

    state: dict[str, Any] = {}
    ready = threading.Event()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Capture, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        routes = (
            f"upstreams:\n  up:\n    url: http://127.0.0.1:{port}\n"
            "routes:\n  - id: all\n    prefix: /\n    upstream: up\n"
            "    waf: {enabled: false}\n    retries: {attempts: 0}\n"
        )
        stop = asyncio.Event()
        state["stop"], state["loop"] = stop, loop
        try:
            async with serving(GatewaySettings(routes_yaml=routes)) as served:
                state["port"] = served.port
                ready.set()
                await stop.wait()
        finally:
            server.close()
            ready.set()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    assert ready.wait(60)
    assert "port" in state, "the gateway did not start"
    try:
        yield int(state["port"])
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(30)


def _exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sketch=requests())
def test_what_reaches_the_upstream_is_the_message_h11_reads(edge: int, sketch: Sketch) -> None:
    expected = with_h11(sketch.raw)
    if sketch.deviates or expected.error or len(expected.messages) != 1:
        return
    _Capture.received = []
    answer = _exchange(edge, sketch.raw)
    if not answer.startswith(b"HTTP/1.1 200"):
        return  # answered by a stage (a 405 for a method the route refuses, ...)
    assert len(_Capture.received) == 1, sketch.raw
    assert end_to_end(_Capture.received[0]) == end_to_end(expected.messages[0])
