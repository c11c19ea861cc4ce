"""Protocol rules that no pattern expresses: structural checks of the request view (request
line, Host, lengths, content types and charsets, Accept, ranges, restricted headers and file
names). Each is constant work per header; verdicts on header values that repeat (Accept,
Content-Type) are remembered. The protocol signatures are in protocol.py.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import unquote

from services.gateway.waf.policy import Policy
from services.gateway.waf.signatures.rule import (
    Check,
    Severity,
    check,
)
from services.gateway.waf.view import RequestView

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VERSIONS = frozenset({"1.0", "1.1", "2", "2.0", "3", "3.0"})
_CONTENT_TYPE_SUFFIXES = ("+json", "+xml")
_CHARSETS = frozenset({"utf-8", "utf8", "iso-8859-1", "iso-8859-15", "windows-1252"})
_CONTENT_TYPE_SYNTAX = re.compile(
    r"[\w/.+*-]++(?:\s*+;\s*+(?:action|boundary|charset|component|start(?:-info)?|type|version"
    r"|profile|q)=['\"\w.()+,/:=?<>@#*-]++)*+\s*+;?\s*+",
    re.IGNORECASE,
)
_MEDIA_TYPE = re.compile(r"\b(?:application|text|multipart|image)/", re.IGNORECASE)
_RESTRICTED_HEADERS = frozenset(
    {
        "proxy",
        "lock-token",
        "content-range",
        "if",
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
        "x-middleware-subrequest",
        "content-encoding",
    }
)
_RESTRICTED_EXTENSIONS = re.compile(
    r"\.(?:asa|asax|ascx|backup|bak|bat|bck|cdx|cer|cfg|cmd|com|conf|config|cs|csproj|csr|dat"
    r"|db|dbf|dll|dos|htr|htw|ida|idc|idq|inc|ini|key|licx|lnk|log|mdb|old|orig|pass|pdb|pem"
    r"|pol|printer|pwd|rdb|resources|resx|sav|save|sql|sqlite3?|swo|swp|sys|tmp|vb|vbs|vbproj"
    r"|vsdisco|webinfo|xsd|xsx|kdbx|p12|pfx|jks|keystore|tfstate|tfvars)$",
    re.IGNORECASE,
)
_ACCEPT_ITEM = re.compile(
    r"\s*+(?:\*|[\w.+*-]++/[\w.+*-]++)(?:\s*+;\s*+[\w.+*-]++\s*+=\s*+(?:\"[^\"]*+\"|[^,;\s\"]++))*+"
    r"\s*+",
)
_ABSOLUTE = re.compile(r"https?://[^/\s]+/", re.IGNORECASE)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_CHARSET_HEADERS = ("content-type", "x-up-devcap-post-charset")
_ACCEPT_CHARSET = re.compile(r"charset\s*=\s*\"?([\w.:-]*)", re.IGNORECASE)
_RANGE = re.compile(r"(?<!\d)(\d++)-(\d++)")  # a digit run starts a match only once
_IP_HOST = re.compile(r"(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?|\[[0-9a-fA-F:.]+\](?::\d+)?")
_MAX_ACCEPT_ENCODING = 100
_REMEMBERED = 1024  # distinct header values whose verdict is kept
_MAX_RANGES = 5


def _request_line(view: RequestView, _policy: Policy) -> str | None:
    target = view.target
    if view.method not in _METHODS and not _TOKEN.fullmatch(view.method):
        return "request-line:method"
    if not (target.startswith("/") or target == "*" or _ABSOLUTE.match(target)):
        return "request-line:target"
    if " " in target or "\t" in target:
        return "request-line:target"
    return None


def _method(view: RequestView, _policy: Policy) -> str | None:
    return None if view.method in _METHODS else "request-line:method"


def _version(view: RequestView, _policy: Policy) -> str | None:
    return None if view.version in _VERSIONS else "request-line:version"


def _content_length(view: RequestView, _policy: Policy) -> str | None:
    values = view.header_values("content-length")
    if any(not v.strip().isdigit() for v in values) or len(set(values)) > 1:
        return "header:content-length"
    return None


def _body_on_get(view: RequestView, _policy: Policy) -> str | None:
    if view.method not in ("GET", "HEAD"):
        return None
    length = view.header("content-length")
    if length is not None and length.strip() not in ("", "0"):
        return "header:content-length"
    if view.header("transfer-encoding") is not None:
        return "header:transfer-encoding"
    return None


def _smuggling(view: RequestView, _policy: Policy) -> str | None:
    encoding = view.header("transfer-encoding")
    if encoding is None:
        return None
    if view.header("content-length") is not None or encoding.strip().lower() != "chunked":
        return "header:transfer-encoding"
    return None


def _host_missing(view: RequestView, _policy: Policy) -> str | None:
    """HTTP/1.1 requires Host (RFC 9112 tells servers to refuse a request without it), and
    no HTTP/1.0 client of this century omits it; HTTP/2 and 3 carry :authority instead."""
    if not view.version.startswith("1."):
        return None
    host = view.header("host")
    return "header:host" if host is None or not host.strip() else None


def _host_is_ip(view: RequestView, _policy: Policy) -> str | None:
    host = view.header("host")
    return "header:host" if host and _IP_HOST.fullmatch(host.strip()) else None


def _content_type_allowed(view: RequestView, policy: Policy) -> str | None:
    value = view.header("content-type")
    if value is None:
        return None
    kind = value.split(";", 1)[0].strip().lower()
    if kind in policy.content_types or kind.endswith(_CONTENT_TYPE_SUFFIXES):
        return None
    top, slash, _ = kind.partition("/")
    if slash and f"{top}/*" in policy.content_types:  # a route's `image/*`
        return None
    return "header:content-type"


def _content_type_syntax(view: RequestView, _policy: Policy) -> str | None:
    types = view.header_values("content-type")
    if len(types) > 1 or (types and not _valid_content_type(types[0])):
        return "header:content-type"
    return None


@lru_cache(maxsize=_REMEMBERED)
def _valid_content_type(value: str) -> bool:
    return _CONTENT_TYPE_SYNTAX.fullmatch(value) is not None


def _charset(view: RequestView, _policy: Policy) -> str | None:
    value = view.header("content-type")
    if value is not None and "charset" in value.lower():
        charsets = re.findall(r"charset\s*=\s*[\"']?([\w.:-]*)", value, re.IGNORECASE)
        if len(charsets) != 1 or charsets[0].lower() not in _CHARSETS:
            return "header:content-type"
    for name in _CHARSET_HEADERS[1:]:  # headers that also set the body's charset
        declared = view.header(name)
        if declared is not None and declared.strip().lower() not in _CHARSETS:
            return f"header:{name}"
    return None


def _content_type_confusion(view: RequestView, _policy: Policy) -> str | None:
    value = view.header("content-type") or ""
    _, semicolon, parameters = value.partition(";")
    return "header:content-type" if semicolon and _MEDIA_TYPE.search(parameters) else None


def _restricted_header(view: RequestView, _policy: Policy) -> str | None:
    restricted = _RESTRICTED_HEADERS.intersection(view.header_names())
    return f"header:{min(restricted)}" if restricted else None


def _restricted_extension(view: RequestView, _policy: Policy) -> str | None:
    path = unquote(view.path).rstrip("/")
    return "path" if _RESTRICTED_EXTENSIONS.search(path) else None


def _backup_file(view: RequestView, _policy: Policy) -> str | None:
    if "~" not in view.path:
        return None
    for segment in view.path.split("/"):
        if segment.endswith("~") or segment.startswith(".~"):
            return "path"
    return None


def _hidden_file(view: RequestView, _policy: Policy) -> str | None:
    """A dot-file or dot-directory (/.git/, /.env, /.claude/...): never an API resource."""
    path = view.path
    if "/." not in path and "%" not in path:
        return None
    path = unquote(path)
    for segment in path.split("/"):
        if segment.startswith(".") and segment not in (".", "..", ".well-known"):
            return "path"
    return None


def _fragment(view: RequestView, _policy: Policy) -> str | None:
    return "uri" if "#" in view.target else None


def _accept(view: RequestView, _policy: Policy) -> str | None:
    value = view.header("accept")
    return None if value is None or _valid_accept(value) else "header:accept"


@lru_cache(maxsize=_REMEMBERED)
def _valid_accept(value: str) -> bool:
    """A list of media ranges (empty is not one), any charset an allowed one. Remembered per
    value: clients send the same few Accept headers."""
    if not value.strip() or not all(_ACCEPT_ITEM.fullmatch(i) for i in value.split(",")):
        return False
    return all(charset.lower() in _CHARSETS for charset in _ACCEPT_CHARSET.findall(value))


def _accept_encoding(view: RequestView, _policy: Policy) -> str | None:
    value = view.header("accept-encoding")
    return "header:accept-encoding" if value and len(value) > _MAX_ACCEPT_ENCODING else None


def _range(view: RequestView, _policy: Policy) -> str | None:
    for name in ("range", "request-range"):
        value = view.header(name)
        if value is None:
            continue
        pairs = _RANGE.findall(value)
        if any(int(last) < int(first) for first, last in pairs) or value.count(",") >= _MAX_RANGES:
            return f"header:{name}"
        if value.strip().lower().startswith("bytes=0-,") or re.search(r"=\s*0\s*-\s*$", value):
            return None
    return None


def _empty_user_agent(view: RequestView, _policy: Policy) -> str | None:
    value = view.header("user-agent")
    return "header:user-agent" if value is not None and not value.strip() else None


def _old_cookie(view: RequestView, _policy: Policy) -> str | None:
    cookie = view.header("cookie")
    return "header:cookie" if cookie and "$version" in cookie.lower() else None


def _length_without_type(view: RequestView, _policy: Policy) -> str | None:
    length = view.header("content-length")
    if length and length.strip() not in ("0", "") and view.header("content-type") is None:
        return "header:content-type"
    return None


CHECKS: tuple[Check, ...] = (
    check("protocol-001", "Invalid HTTP request line (method, target)", _request_line),
    check("protocol-022", "HTTP method not allowed (TRACE, CONNECT, unknown)", _method),
    check("protocol-002", "HTTP protocol version not allowed", _version),
    check("protocol-003", "Content-Length is not a number (or conflicts)", _content_length),
    check("protocol-004", "GET or HEAD request with a body", _body_on_get),
    check("protocol-005", "Transfer-Encoding with Content-Length or not chunked", _smuggling),
    check("protocol-006", "Missing or empty Host header on HTTP/1.x", _host_missing),
    check("protocol-007", "Host header is a numeric IP", _host_is_ip, severity=Severity.WARNING),
    check("protocol-008", "Request content type not allowed", _content_type_allowed),
    check("protocol-009", "Malformed or repeated Content-Type header", _content_type_syntax),
    check("protocol-010", "Request charset not allowed (or repeated)", _charset),
    check(
        "protocol-011",
        "A media type inside Content-Type parameters (content-type confusion)",
        _content_type_confusion,
    ),
    check(
        "protocol-012",
        "Restricted request header (Proxy, If, X-HTTP-Method...)",
        _restricted_header,
    ),
    check(
        "protocol-013",
        "Restricted file extension in the path (.bak, .ini, .sql)",
        _restricted_extension,
    ),
    check("protocol-014", "Backup or temporary file in the path (index.php~)", _backup_file),
    check("protocol-015", "Fragment (#) in the request target", _fragment),
    check("protocol-021", "Hidden file or directory in the path (/.git/, /.env)", _hidden_file),
    check("protocol-016", "Malformed Accept header", _accept),
    check("protocol-017", "Accept-Encoding header of unreasonable length", _accept_encoding),
    check("protocol-018", "Invalid or excessive Range header", _range),
    check("protocol-019", "Legacy $Version cookie", _old_cookie),
    check("protocol-020", "Body without a Content-Type", _length_without_type),
    check("protocol-023", "Empty User-Agent header", _empty_user_agent, severity=Severity.NOTICE),
)
