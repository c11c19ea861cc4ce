"""No input makes detection backtrack: a crafted value of the largest inspected size costs no
more than a small constant factor of a plain value of the same size.

Signatures run in Hyperscan (linear by construction); what is measured here is everything a
request goes through, decoding and body parsing included. CPU time of many repetitions, the
best of several trials, so a busy machine slows both sides alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import quote

import pytest

from services.gateway.waf.decode import MAX_VALUE_CHARS
from services.gateway.waf.detect import Detector
from services.gateway.waf.policy import Policy
from services.gateway.waf.view import RequestView

pytestmark = pytest.mark.unit

DETECTOR = Detector()
SIZE = MAX_VALUE_CHARS
MAX_RATIO = 8.0
PLAIN = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * (SIZE // 50 + 1))[:SIZE]
HEADERS = (("Host", "api.example.com"), ("User-Agent", "Mozilla/5.0"), ("Accept", "*/*"))

CRAFTED = {
    "quotes": "'" * SIZE,
    "comment openers": "/*" * (SIZE // 2),
    "executable comments": "/*!" * (SIZE // 3),
    "angle brackets": "<" * SIZE,
    "nested percent": "%25" * (SIZE // 3),
    "entity openers": "&#" * (SIZE // 2),
    "escape openers": "\\u" * (SIZE // 2),
    "lookup openers": "${" * (SIZE // 2),
    "one long word": "a" * SIZE,
    "shellshock openers": "() {" * (SIZE // 4),
    "traversal": "../" * (SIZE // 3),
    "sql keywords": "select union " * (SIZE // 13),
    "unclosed tags": "<a b=" * (SIZE // 5),
    "cdata openers": "<![CDATA[" * (SIZE // 9),
    "separators": ";|&`$(" * (SIZE // 6),
    "digits": "1" * SIZE,
    "parameters": "a=;" * (SIZE // 3),
    "array indexes": "[1]" * (SIZE // 3),
    "control bytes": "\x01" * SIZE,
}
# A route that leaves secret fields unread looks at every field's name.
SECRETS = Policy(excluded_fields=frozenset({"password"}))


def cpu_seconds(view: RequestView, repetitions: int = 5, trials: int = 3) -> float:
    best = float("inf")
    for _ in range(trials):
        start = time.process_time()
        for _ in range(repetitions):
            DETECTOR.inspect(view, SECRETS)
        best = min(best, time.process_time() - start)
    return best


def in_query(value: str) -> RequestView:
    return RequestView("GET", "/api/items?q=" + quote(value), HEADERS)


def in_json(value: str) -> RequestView:
    body = ('{"q": "' + value.replace("\\", "\\\\").replace('"', '\\"') + '"}').encode()
    return RequestView("POST", "/api/items", (*HEADERS, ("Content-Type", "application/json")), body)


def in_json_key(value: str) -> RequestView:
    key = value.replace("\\", "\\\\").replace('"', '\\"')
    body = ('{"user": {"' + key + '": "x", "password": "' + key + '"}}').encode()
    return RequestView("POST", "/api/items", (*HEADERS, ("Content-Type", "application/json")), body)


def in_upload(value: str) -> RequestView:
    """A file part without a type: its bytes are sniffed before they are read (or not)."""
    body = (
        f'--zz\r\nContent-Disposition: form-data; name="f"; filename="a"\r\n\r\n{value}\r\n--zz--'
    )
    content_type = "multipart/form-data; boundary=zz"
    return RequestView(
        "POST", "/api/items", (*HEADERS, ("Content-Type", content_type)), body.encode()
    )


def in_xml(value: str) -> RequestView:
    body = f"<?xml version='1.0'?><r>{value}</r>".encode()
    return RequestView("POST", "/api/items", (*HEADERS, ("Content-Type", "application/xml")), body)


def in_multipart(value: str) -> RequestView:
    content_type = "multipart/form-data; boundary=zz; " + value[: SIZE // 4]
    body = f'--zz\r\nContent-Disposition: form-data; name="q"; {value}\r\n\r\nx\r\n--zz--'
    return RequestView(
        "POST", "/api/items", (*HEADERS, ("Content-Type", content_type)), body.encode()
    )


def in_headers(value: str) -> RequestView:
    """The headers the protocol checks parse: media types, ranges, charsets, cookies."""
    half = value[: SIZE // 2]
    headers = (
        ("Host", "api.example.com"),
        ("Accept", "text/html;" + half),
        ("Content-Type", "application/json; charset=" + half),
        ("Range", "bytes=" + half),
        ("Cookie", half),
        ("X-Filename", half),
    )
    return RequestView("GET", "/api/items", headers)


@pytest.mark.parametrize(
    "place", [in_query, in_json, in_json_key, in_xml, in_multipart, in_upload, in_headers]
)
@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_a_crafted_value_costs_no_more_than_a_plain_one(
    name: str, place: Callable[[str], RequestView]
) -> None:
    ratio = cpu_seconds(place(CRAFTED[name])) / max(cpu_seconds(place(PLAIN)), 1e-6)
    assert ratio <= MAX_RATIO, f"{name} in {place.__name__}: {ratio:.1f}x a plain value"
