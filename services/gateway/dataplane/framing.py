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

from services.gateway.request import HeaderIndex
from services.gateway.waf import builtin

HEADER_SLACK = 4  # ": " and CRLF per field, as the WAF counts a header block


@dataclass(frozen=True, slots=True)
class FramingLimits:
    max_target_bytes: int = 8192
    max_header_bytes: int = 16384
    max_headers: int = 100


class Head:
    """A request head as framed (a plain slotted class: one is built per request)."""

    __slots__ = (
        "chunked",
        "content_length",
        "expect_continue",
        "head_bytes",
        "index",
        "keep_alive",
        "method",
        "raw_headers",
        "target",
        "upgrade",
        "version",
    )

    def __init__(
        self,
        method: str,
        target: str,
        raw_headers: list[tuple[bytes, bytes]],
        version: str,
        keep_alive: bool,
        content_length: int | None,
        chunked: bool,
        upgrade: bool,
        expect_continue: bool,
        index: HeaderIndex | None = None,
        head_bytes: int | None = None,
    ) -> None:
        self.method = method
        self.target = target
        self.raw_headers = raw_headers
        self.version = version
        self.keep_alive = keep_alive
        self.content_length = content_length
        self.chunked = chunked
        self.upgrade = upgrade
        self.expect_continue = expect_continue
        self.index: HeaderIndex = index if index is not None else {}
        self.head_bytes = head_bytes  # the header block as sent: `name: value\r\n` per field


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
        # The first value of each field by lower-cased name (the stages read it), and the
        # names sent more than once (only a few of them matter to framing).
        index: HeaderIndex = {}
        repeated: list[bytes] = []
        for name, value in self._headers:
            lowered = name.lower()
            if lowered in index:
                repeated.append(lowered)
            else:
                index[lowered] = value
        content_length: int | None = None
        if (length := index.get(b"content-length")) is not None:
            content_length = int(length)  # llhttp has refused non-digits and duplicates
        chunked = False
        if (coding := index.get(b"transfer-encoding")) is not None:
            if b"transfer-encoding" in repeated or coding.lower() != b"chunked":
                raise FramingError(501, "only Transfer-Encoding: chunked is supported")
            chunked = True
        if b"host" in repeated or (b"host" not in index and version == "1.1"):
            raise FramingError(400, "an HTTP/1.1 request needs exactly one Host header")
        expect = index.get(b"expect")
        if expect is not None and b"expect" in repeated:  # the last one counts
            expect = [v for n, v in self._headers if n.lower() == b"expect"][-1]
        self._sink.on_head(
            Head(
                method.decode("ascii"),
                target.decode("ascii"),
                self._headers,
                version,
                parser.should_keep_alive(),
                content_length,
                chunked,
                b"upgrade" in index and parser.should_upgrade(),
                expect is not None and expect.lower() == b"100-continue",
                index,
                self._header_bytes,
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
