"""Bounded, linear parsers for the bodies the WAF takes apart: multipart forms and XML.

Neither is a full parser, on purpose: the WAF only needs the values an application would read
(field names, file names, field contents, XML text and attribute values), and a real XML parser
would expand entities or fetch external ones, the very attacks it should report. The body is
already cut to the inspection limit; each loop here advances through it with `str.find`, so a
hostile body costs time proportional to its length.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from services.gateway.waf.media import is_text_type, looks_binary

MULTIPART_MAX_PARTS = 100
_MAX_PART_HEADERS = 16
# Possessive quantifiers and a look-behind that only starts a name at a word's beginning:
# without them a long unbroken word costs quadratic time in Python's backtracking `re`.
_PARAM = re.compile(r"""(?<![\w*-])([\w*-]++)\s*+=\s*+(?:"([^"]*+)"|([^;\s]*+))""")
_XML_TEXT = re.compile(r">([^<]++)<")
_XML_TAG = re.compile(r"<([\w:.-]++)([^<>]*+)>")
_XML_ATTRIBUTE = re.compile(r"""(?<![\w:.-])([\w:.-]++)\s*+=\s*+(?:"([^"]*+)"|'([^']*+)')""")
_MAX_XML_VALUES = 1000


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    filename: str | None
    headers: tuple[tuple[str, str], ...]  # the part's own headers but Content-Disposition
    content: str

    @property
    def is_binary(self) -> bool:
        """Binary content: by its declared type, or by its bytes when it declares none (HTTP
        libraries send files without a type unless told one)."""
        declared = dict(self.headers).get("content-type")
        if declared is not None:
            return not is_text_type(declared.split(";", 1)[0].strip().lower())
        return looks_binary(self.content.encode("utf-8", "surrogateescape"))


def header_params(value: str) -> dict[str, str]:
    """`a=1; b="two"` parameters of a header value, names lower-cased."""
    return {m.group(1).lower(): m.group(2) or m.group(3) or "" for m in _PARAM.finditer(value)}


def multipart_parts(content_type: str, body: str, max_parts: int) -> list[Part] | None:
    """The parts of a multipart body, or None when the header names no boundary."""
    boundary = header_params(content_type).get("boundary")
    if not boundary:
        return None
    delimiter = "--" + boundary
    chunks = body.split(delimiter, max_parts + 1)[1 : max_parts + 1]
    parts = []
    for chunk in chunks:
        if chunk.startswith("--"):  # the closing delimiter
            break
        part = _part(chunk)
        if part is not None:
            parts.append(part)
    return parts


def _part(chunk: str) -> Part | None:
    chunk = chunk.removeprefix("\r\n").removeprefix("\n")
    head, separator, content = chunk.partition("\r\n\r\n")
    if not separator:
        head, separator, content = chunk.partition("\n\n")
    headers: list[tuple[str, str]] = []
    disposition: dict[str, str] = {}
    for line in head.splitlines()[:_MAX_PART_HEADERS]:
        name, colon, value = line.partition(":")
        if not colon:
            continue
        name = name.strip().lower()
        if name == "content-disposition":
            disposition = header_params(value)
        else:
            headers.append((name, value.strip()))
    if not disposition and not headers:
        return None
    content = content.removesuffix("\r\n").removesuffix("\n")
    filename = disposition.get("filename*", disposition.get("filename"))
    return Part(disposition.get("name", ""), filename, tuple(headers), content)


def xml_values(text: str) -> Iterator[tuple[str, str]]:
    """(path, value) for CDATA sections, text nodes and attribute values, in document order."""
    count = 0
    position = 0
    while (start := text.find("<![CDATA[", position)) >= 0 and count < _MAX_XML_VALUES:
        end = text.find("]]>", start)
        end = len(text) if end < 0 else end
        yield "cdata", text[start + 9 : end]
        count += 1
        position = end + 3
    tag = "xml"
    for match in _XML_TAG.finditer(text):
        if count >= _MAX_XML_VALUES:
            return
        tag = match.group(1)
        for attribute in _XML_ATTRIBUTE.finditer(match.group(2)):
            yield f"{tag}@{attribute.group(1)}", attribute.group(2) or attribute.group(3) or ""
            count += 1
        following = _XML_TEXT.match(text, match.end() - 1)
        if following is not None and following.group(1).strip():
            yield tag, following.group(1).strip()
            count += 1
