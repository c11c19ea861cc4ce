"""HTTP/1.1 request framing: llhttp (via `httptools`) plus the rules a proxy must add.

llhttp in its strict mode already refuses what request smuggling is made of: Content-Length
with Transfer-Encoding, duplicate or non-numeric Content-Length, bad chunk sizes, obs-fold, bare
LF line ends, whitespace before a colon, control characters in field values, unknown methods and
invalid target characters. On top of it `RequestFramer` enforces:

- the size limits, while the bytes arrive: a target over `max_target_bytes` is a 414 whatever
  its length (the framer stops reading at the limit), a header block over `max_header_bytes` or
  `max_headers` fields a 431;
- HTTP/1.0 and 1.1 only (505); origin-form targets (`/path?query`, or `*` for OPTIONS) only;
  no CONNECT; exactly one Host on HTTP/1.1 (RFC 9112 3.2);
- Transfer-Encoding exactly `chunked` (RFC 9112 6.1: a coding the gateway does not decode is a
  501, never relayed);
- optional whitespace around field values removed (RFC 9110 5.5), trailers dropped.

`tests/unit/gateway/test_framing_differential.py` compares it with `h11` on generated requests.
Events go to a `FrameSink`; one framer reads every request of a connection (pipelining).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httptools

from services.gateway.waf import builtin

HEADER_SLACK = 4  # ": " and CRLF per field, as the WAF counts a header block


@dataclass(frozen=True, slots=True)
class FramingLimits:
    max_target_bytes: int = 8192
    max_header_bytes: int = 16384
    max_headers: int = 100


@dataclass(frozen=True, slots=True)
class Head:
    method: str
    target: str
    raw_headers: list[tuple[bytes, bytes]]
    version: str
    keep_alive: bool
    content_length: int | None
    chunked: bool
    upgrade: bool
    expect_continue: bool


class FramingError(Exception):
    """A request the gateway refuses before any stage sees it; the connection then closes."""

    def __init__(self, status: int, detail: str, rule_id: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.rule_id = rule_id


class FrameSink(Protocol):
    def on_head(self, head: Head) -> None: ...
    def on_body(self, chunk: bytes) -> None: ...
    def on_end(self) -> None: ...


_OWS = b" \t"
# Request heads arrive in a few reads; the bytes of the last ones are kept to check the request
# line (at most this many reads, and no head is longer than the limits allow).
_KEPT_CHUNKS = 64
_VCHAR_MIN, _VCHAR_MAX = 0x21, 0x7E


def _valid_target(target: bytes, method: bytes) -> bool:
    if target == b"*":
        return method == b"OPTIONS"
    if not target.startswith(b"/"):
        return False
    return not target.translate(None, _TARGET_CHARS)


# Every byte a target may hold (visible ASCII); `translate` deletes them, leaving the rest.
_TARGET_CHARS = bytes(range(_VCHAR_MIN, _VCHAR_MAX + 1))


class RequestFramer:
    """Feed it the bytes of a connection; it calls the sink per request part, raises
    `FramingError` on a request to refuse, and returns the offset of the bytes after an upgrade
    request (the tunnel's first bytes) from `feed`."""

    __slots__ = (
        "_chunks",
        "_header_bytes",
        "_headers",
        "_in_head",
        "_limits",
        "_parser",
        "_sink",
        "_target",
        "_target_bytes",
    )

    def __init__(self, sink: FrameSink, limits: FramingLimits = FramingLimits()) -> None:
        self._sink = sink
        self._limits = limits
        self._parser = httptools.HttpRequestParser(self)
        self._chunks: list[bytes] = []  # the bytes fed since the current head began (bounded)
        self._reset()

    def _reset(self) -> None:
        self._target: list[bytes] = []
        self._target_bytes = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._header_bytes = 0
        self._in_head = True

    def feed(self, data: bytes) -> int | None:
        """Parse `data`; None, or the offset in `data` where an upgraded connection's bytes
        start."""
        chunks = self._chunks
        chunks.append(data)
        if len(chunks) > _KEPT_CHUNKS:
            del chunks[0]
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            return int(upgrade.args[0]) if upgrade.args else len(data)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, FramingError):
                raise cause from None
            raise
        except httptools.HttpParserInvalidMethodError:
            raise FramingError(501, "the request method is not one HTTP defines") from None
        except httptools.HttpParserError as exc:
            raise FramingError(400, f"malformed HTTP request: {exc}") from None
        return None

    # --- llhttp callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._reset()

    def on_url(self, url: bytes) -> None:
        self._target_bytes += len(url)
        if self._target_bytes > self._limits.max_target_bytes:
            limit = self._limits.max_target_bytes
            detail = f"the URL is longer than {limit} bytes"
            raise FramingError(414, detail, builtin.SIZE_URL)
        self._target.append(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._in_head:
            return  # a trailer field: not relayed
        self._header_bytes += len(name) + len(value) + HEADER_SLACK
        limits = self._limits
        if len(self._headers) >= limits.max_headers or self._header_bytes > limits.max_header_bytes:
            detail = (
                f"the request headers exceed {limits.max_header_bytes} bytes "
                f"or {limits.max_headers} fields"
            )
            raise FramingError(431, detail, builtin.SIZE_HEADERS)
        if value and (value[-1] in _OWS or value[0] in _OWS):
            value = value.strip(_OWS)
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._in_head = False
        parser = self._parser
        method = parser.get_method()
        version = parser.get_http_version()
        if version not in ("1.1", "1.0"):
            raise FramingError(505, f"HTTP/{version} is not supported: use HTTP/1.1")
        target = b"".join(self._target)
        if method == b"CONNECT":
            raise FramingError(405, "CONNECT is not supported by this gateway")
        if not _valid_target(target, method):
            raise FramingError(400, "the request target must be a path (origin-form)")
        if not self._single_spaced(b"%s %s HTTP/%s\r\n" % (method, target, version.encode())):
            # llhttp skips extra spaces in the request line; RFC 9112 3 allows exactly one.
            raise FramingError(400, "malformed request line")
        del self._chunks[:-1]  # the next head starts in this read or a later one
        content_length: int | None = None
        chunked = upgrade = expect = False
        hosts = 0
        for name, value in self._headers:
            lowered = name.lower()
            if lowered == b"content-length":
                content_length = int(value)  # llhttp has refused non-digits and duplicates
            elif lowered == b"transfer-encoding":
                if chunked or value.lower() != b"chunked":
                    raise FramingError(501, "only Transfer-Encoding: chunked is supported")
                chunked = True
            elif lowered == b"host":
                hosts += 1
            elif lowered == b"upgrade":
                upgrade = True
            elif lowered == b"expect":
                expect = value.lower() == b"100-continue"
        if hosts > 1 or (hosts == 0 and version == "1.1"):
            raise FramingError(400, "an HTTP/1.1 request needs exactly one Host header")
        self._sink.on_head(
            Head(
                method=method.decode("ascii"),
                target=target.decode("ascii"),
                raw_headers=self._headers,
                version=version,
                keep_alive=parser.should_keep_alive(),
                content_length=content_length,
                chunked=chunked,
                upgrade=upgrade and parser.should_upgrade(),
                expect_continue=expect,
            )
        )

    def _single_spaced(self, line: bytes) -> bool:
        """Whether the request line was sent exactly as `line` (llhttp does not say)."""
        chunks = self._chunks
        if line in chunks[-1]:
            return True
        return line in b"".join(chunks)

    def on_body(self, body: bytes) -> None:
        self._sink.on_body(body)

    def on_message_complete(self) -> None:
        self._sink.on_end()
