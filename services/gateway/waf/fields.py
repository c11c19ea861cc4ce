"""Split a request view into the values the signatures inspect, each labelled with its place.

Labels name where a value came from for the log and the problem (`query:q`, `cookie:sid`,
`header:user-agent`, `body:json:a.b[0]`, `body:multipart:avatar:filename`), never the value.
Bodies are taken apart by content type (urlencoded forms, JSON, multipart, XML), so a payload
cannot hide in the escaping of its container; other text is inspected as text, and binary
bodies and uploaded binary files are never read as text (media.py). Every
parser here is bounded and linear: the body is already cut to the inspection limit, and the
JSON walk and multipart split stop at a character budget and a part count.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote

import orjson

from services.gateway.waf.bodies import MULTIPART_MAX_PARTS, multipart_parts, xml_values
from services.gateway.waf.decode import MAX_VALUE_CHARS
from services.gateway.waf.media import is_text_type, looks_binary
from services.gateway.waf.signatures.rule import Place
from services.gateway.waf.view import RequestView

# Credentials are never inspected (nor could a match on them be logged safely).
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key"})
_USER_HEADERS = frozenset({"user-agent", "referer"})
_MAX_ARGS = 1000
_WINDOW_OVERLAP = 256  # a payload straddling two windows still appears whole in one
_COOKIE_SPLIT = re.compile(r";\s*")
_FILENAME_HEADER = re.compile(r"x[-_.]?file[-_.]?name")


# (place, label, value): a plain tuple, as a few dozen are built for every request.
Field = tuple[Place, str, str]


def head_fields(view: RequestView) -> Iterator[Field]:
    """Path, raw target, query arguments, headers and cookies."""
    target = view.target
    path, _, query = target.partition("?")
    yield (Place.PATH, "path", path)
    if "%" in target or "\\" in target or ":" in query:  # encodings, and name=scheme: pairs
        yield (Place.URI, "uri", target)
    if query:
        yield from _pairs("query", query)
    for name, value in view.headers:
        lowered = name.lower()
        if lowered in CREDENTIAL_HEADERS or not value:
            continue
        if lowered == "cookie":
            yield from cookie_fields(value)
            continue
        user = lowered in _USER_HEADERS or lowered.startswith("x-")
        yield (Place.USER_HEADER if user else Place.HEADER, f"header:{lowered}", value)
        if _FILENAME_HEADER.fullmatch(lowered):  # upload APIs name the file in a header
            yield (Place.FILENAME, f"header:{lowered}", value)


def field_name(label: str) -> str:
    """The argument name a value's label ends with, lower case: `password` for
    `body:form:password`, `query:Password`, `body:json:user.password` and
    `body:json:password[0]` (in linear time: labels carry the client's own keys)."""
    name = label.rpartition(":")[2].rpartition(".")[2]
    end = len(name)
    while end and name[end - 1] == "]":  # a JSON array's items: `tags[0]`, `grid[1][2]`
        opened = name.rfind("[", 0, end)
        if opened < 0 or not name[opened + 1 : end - 1].isdigit():
            break
        end = opened
    return name[:end].lower()


def cookie_fields(header: str) -> Iterator[Field]:
    for item in _COOKIE_SPLIT.split(header.strip()):
        name, _, value = item.partition("=")
        name = name.strip()
        label = f"cookie:{name}"
        if name:
            yield (Place.COOKIE_NAME, label, name)
        if value:
            yield (Place.COOKIE, label, value)


def body_fields(view: RequestView, budget: int = 1 << 16) -> Iterator[Field]:
    """The body's values by content type; text windows for text without a structure we parse
    (and for a body that claims one but does not parse)."""
    body = view.body
    if not body:
        return
    kind = view.content_type
    if kind and not is_text_type(kind):
        return  # an image, an archive, an octet stream: opaque, the application's to check
    if not kind and looks_binary(body):
        return  # no type, binary bytes: protocol-020 answers it, not a read of the bytes
    text = body.decode("utf-8", "surrogateescape")
    if kind == "application/x-www-form-urlencoded":
        yield from _pairs("body:form", text)
    elif kind == "application/json" or kind.endswith("+json"):
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:  # the upstream will refuse it; still look for payloads
            if not looks_binary(body):  # in text, that is: an image sent as JSON is an error
                yield from text_fields(text)
        else:
            yield from json_fields(document, budget)
    elif kind.startswith("multipart/"):
        yield from _multipart_fields(view, text)
    elif kind.endswith("xml"):
        yield (Place.XML, "body:xml", text)
        for path, value in xml_values(text):
            yield (Place.ARG, f"body:xml:{path}", value)
    else:  # text/*, scripts, YAML, no type at all
        yield from text_fields(text)


def _pairs(prefix: str, text: str) -> Iterator[Field]:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=_MAX_ARGS)
    except ValueError:  # more fields than we parse: inspect it as text
        yield from text_fields(unquote(text))
        return
    for name, value in pairs:
        label = f"{prefix}:{name[:64]}"
        yield (Place.ARG_NAME, label, name)
        if value:
            yield (Place.ARG, label, value)


def json_fields(document: Any, budget: int) -> Iterator[Field]:
    """Object keys and string values of a parsed JSON document, until `budget` chars are seen.
    Labels are built as the walk goes (`body:json:a.b[0]`), one concatenation per value."""
    root = "body:json:"
    stack: list[tuple[str, Any]] = [(root, document)]
    while stack and budget > 0:
        label, node = stack.pop()
        if isinstance(node, str):
            budget -= len(node)
            yield (Place.ARG, label, node)
        elif isinstance(node, dict):
            dot = "" if label is root else "."
            for key, value in reversed(list(node.items())):
                budget -= len(key)
                child = f"{label}{dot}{key}"
                yield (Place.ARG_NAME, child, key)
                stack.append((child, value))
        elif isinstance(node, list):
            stack.extend((f"{label}[{i}]", item) for i, item in reversed(list(enumerate(node))))


def text_fields(text: str, label: str = "body") -> Iterator[Field]:
    """Text in overlapping windows, as each value is only inspected so far."""
    step = MAX_VALUE_CHARS - _WINDOW_OVERLAP
    for start in range(0, max(len(text) - _WINDOW_OVERLAP, 1), step):
        yield (Place.BODY, label, text[start : start + MAX_VALUE_CHARS])


def _multipart_fields(view: RequestView, text: str) -> Iterator[Field]:
    header = view.header("content-type") or ""
    parts = multipart_parts(header, text, MULTIPART_MAX_PARTS)
    if parts is None:  # no usable boundary: still look at it
        yield from text_fields(text)
        return
    for part in parts:
        label = f"body:multipart:{part.name[:64]}"
        yield (Place.ARG_NAME, label, part.name)
        for name, value in part.headers:
            yield (Place.HEADER, f"{label}:{name}", value)
        if part.filename is not None:
            yield (Place.FILENAME, f"{label}:filename", part.filename)
            yield (Place.FILENAME, label, part.name)  # CRS's FILES_NAMES
            if part.is_binary:
                continue  # an uploaded image or archive reaches the application as a file
        if part.content:
            yield (Place.ARG, label, part.content)
