"""The signature rules: attacks (plain, encoded, obfuscated) match, benign text does not."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.gateway.waf.decode import MAX_DECODE_ROUNDS, normal
from services.gateway.waf.matcher import Matcher
from services.gateway.waf.signatures import RULES, SIGNATURES
from services.gateway.waf.signatures.rule import ALL_HEADERS, Category, Place

pytestmark = pytest.mark.unit

MATCHER = Matcher(SIGNATURES)


def families(value: str, place: Place = Place.ARG, level: int = 1) -> set[str]:
    """The rule families (sqli, xss, lfi, ...) whose rules up to paranoia `level` match
    `value` found at `place`."""
    return {
        SIGNATURES[index].rule.category.value
        for index in MATCHER.match(value)
        if place in SIGNATURES[index].places and SIGNATURES[index].rule.paranoia_level <= level
    }


SQLI = [
    "' OR 1=1--",
    "%27%20OR%201%3D1",  # URL-encoded
    "%2527%2520OR%25201%253D1",  # double-encoded
    "1' oR '1'='1",  # mixed case
    "admin'--",
    "admin' #",
    "' or ''='",
    '") or ("1"="1',
    "' or true--",
    "1 or 1=1",
    "1 AND 1=1",
    "x' UnIoN/**/SeLeCt password FROM users--",  # comment as whitespace
    "1/*!50000UNION*//*!50000SELECT*/1",  # MySQL versioned comments
    "1 UNION ALL SELECT null,null",
    "1 union%0aselect 1",  # newline as whitespace
    "1;DROP TABLE users",
    "1; delete from accounts",
    "'; exec xp_cmdshell 'dir'--",
    "1' and sleep(5)#",
    "benchmark(1000000,md5(1))",
    "'; waitfor delay '0:0:5'--",
    "1' AND (SELECT 1 FROM dual)",
    "select * from information_schema.tables",
    "&#39; or 1=1--",  # HTML entity
]

XSS = [
    "<script>alert(1)</script>",
    "%3Cscript%3Ealert(1)%3C/script%3E",
    "%253Cscript%253E",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<ScRiPt >alert(1)</sCrIpT>",
    "<img src=x onerror=alert(1)>",
    "<IMG SRC=x OnErRoR=alert(1)>",
    "<svg/onload=alert(1)>",
    "<body onload=alert(1)>",
    '" onmouseover="alert(1)',
    'x" autofocus onfocus=alert(1) x="',
    "javascript:alert(document.cookie)",
    "java&#x09;script:alert(1)",
    '<a href="javascript:void(0)">x</a>',
    "<iframe src=//evil.example>",
    "data:text/html;base64,PHNjcmlwdD4=",
    "document.write('<x>')",
    "String.fromCharCode(88,83,83)",
    "'-alert(1)-'",
]

LFI = ["../../etc/passwd", "..%2F..%2F..%2Fetc%2Fpasswd", "/proc/self/environ", "..\\..\\win.ini"]

BENIGN = [
    "O'Brien",
    "select a seat",
    "1 or 2 tickets",
    "<3",
    "I <3 you",
    "Rock 'n' roll",
    "it's 'red' or 'blue'",
    "said 'yes' and not 'no'",
    "'Tom' and Jerry is great",
    "My 'favourite' -- ever",
    "'Hello' or 'Bonjour'?",
    "don't or won't",
    "He's 6' 2\" tall",
    "JavaScript: The Good Parts",
    "drop me a line; update soon",
    "meeting at 3; update the doc",
    "Union Square",
    "we will select the best union members",
    "selection from the union",
    "a <b> tag",
    "x < y and y > z",
    "price <= 100 and >= 20",
    "5 > 3",
    "1=1 is math",
    "100% sure",
    "50%25 off",
    "Ben & Jerry's",
    'Bob\'s "famous" pie',
    "Sleep (well) tonight",
    "--verbose",
    "#hashtag",
    "../README.md",
    "C:\\Program Files\\app",
    "e-mail: joe@example.com",
    "on sale=true",
    "eval(x)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; Trident/5.0)",
    "https://example.com/search?q=o%27brien&page=2",
    "session=abc123; theme=dark; _ga=GA1.2.3",
]


@pytest.mark.parametrize("payload", SQLI)
def test_sql_injection_payloads_match_an_sqli_rule(payload: str) -> None:
    assert "sqli" in families(payload)


@pytest.mark.parametrize("payload", XSS)
def test_xss_payloads_match_an_xss_rule(payload: str) -> None:
    assert "xss" in families(payload)


@pytest.mark.parametrize("payload", LFI)
def test_traversal_payloads_match_an_lfi_rule(payload: str) -> None:
    assert "lfi" in families(payload)


@pytest.mark.parametrize("text", BENIGN)
@pytest.mark.parametrize("place", sorted(set(Place) - {Place.URI, Place.FILENAME}))
def test_benign_text_matches_no_rule(text: str, place: Place) -> None:
    """At the default paranoia level 1 (higher levels trade false positives for coverage).
    Every place holds free text but `uri`, the raw target, where "100% sure" would be
    invalid percent-encoding (clients send it encoded), and upload file names, where quotes,
    `=`, `;` and backslashes are refused on purpose (multipart parser confusion)."""
    assert families(text, place) == set()


def test_rules_have_unique_well_formed_ids_descriptions_and_places() -> None:
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids))
    categories = "|".join(category.value for category in Category)
    for rule in RULES:
        assert re.fullmatch(rf"({categories})-\d{{3}}", rule.id)
        assert rule.id.startswith(f"{rule.category.value}-")
        assert rule.description
        assert 1 <= rule.paranoia_level <= 4
    for signature in SIGNATURES:
        assert signature.places


def test_traversal_rules_do_not_look_at_headers() -> None:
    for place in ALL_HEADERS:
        assert families("../../etc/passwd", place, level=4) == set()


def test_decoding_is_repeated_but_bounded() -> None:
    encoded = "'"
    for _ in range(MAX_DECODE_ROUNDS):
        encoded = encoded.replace("%", "%25").replace("'", "%27")
    assert normal(encoded) == "'"
    assert normal(encoded.replace("%", "%25")) != "'"  # one round too many stays encoded


def test_normal_lowercases_collapses_whitespace_and_comments() -> None:
    assert normal("UNION/*x*/\t\n  SELECT") == "union select"
    assert normal("/*!50000SELECT*/").strip() == "select"


def test_every_rule_is_in_the_documented_catalogue() -> None:
    catalogue = (Path(__file__).resolve().parents[3] / "docs" / "gateway.md").read_text()
    undocumented = [
        rule.id for rule in RULES if f"| `{rule.id}` | {rule.paranoia_level} |" not in catalogue
    ]
    assert not undocumented, f"docs/gateway.md's rule catalogue lacks {undocumented}"
