"""What a detection rule is: an id, an attack class, a paranoia level and a severity.

As in the OWASP Core Rule Set, a match does not block by itself: it adds its severity's score
to the request's anomaly score, and the request is blocked when the score reaches the route's
threshold (5 by default, so one critical match blocks while a lone notice does not). Rules
above the route's paranoia level are not evaluated for it.

Two kinds of rule: a `Signature` is a pattern compiled into the one Hyperscan database and
matched against chosen places of the request in a chosen view (see decode.py); a `Check` is a
structural test of the request (a missing Host, a disallowed content type) that no pattern
expresses, a constant-time look at the request view.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from services.gateway.waf.policy import Policy
from services.gateway.waf.view import RequestView


class Category(StrEnum):
    SQLI = "sqli"
    XSS = "xss"
    LFI = "lfi"
    RFI = "rfi"
    RCE = "rce"
    PHP = "php"
    JAVA = "java"
    PROTOCOL = "protocol"
    SCANNER = "scanner"
    GENERIC = "generic"  # Node.js, template and prototype-pollution injection
    FIXATION = "fixation"  # session fixation


class Severity(IntEnum):
    """Anomaly points per match (CRS's critical/error/warning/notice scores)."""

    CRITICAL = 5
    ERROR = 4
    WARNING = 3
    NOTICE = 2


class Place(StrEnum):
    """Where in the request a value comes from (what a rule may look at)."""

    PATH = "path"  # the request path
    URI = "uri"  # the whole raw target, still percent-encoded
    ARG = "arg"  # query, form, JSON, XML and multipart field values
    ARG_NAME = "arg_name"  # their names (and JSON object keys)
    COOKIE = "cookie"
    COOKIE_NAME = "cookie_name"
    USER_HEADER = "user_header"  # User-Agent, Referer and X-* (application input)
    HEADER = "header"  # every other header value (never credentials)
    FILENAME = "filename"  # multipart upload file names
    BODY = "body"  # a body inspected as text (text/plain, unparsable, too large to parse)
    XML = "xml"  # an XML body as sent, with its declarations


class View(StrEnum):
    RAW = "raw"  # the value as received (one level of container decoding), case kept
    NORMAL = "normal"  # decode.normal(): decoded, folded, lower case, comments as spaces
    COMMAND = "command"  # decode.command_line(): as a shell tokenises it


# The places injection payloads arrive in (CRS's ARGS, ARGS_NAMES, REQUEST_COOKIES(_NAMES),
# User-Agent/Referer, XML and request-body variables).
INPUTS = frozenset(
    {
        Place.PATH,
        Place.ARG,
        Place.ARG_NAME,
        Place.COOKIE,
        Place.COOKIE_NAME,
        Place.USER_HEADER,
        Place.FILENAME,
        Place.BODY,
    }
)
ARGS = frozenset({Place.ARG, Place.ARG_NAME, Place.BODY})
ALL_HEADERS = frozenset({Place.USER_HEADER, Place.HEADER})
# A line break as it reaches a raw-view value: the byte, percent-encoded or an HTML entity.
LINE_BREAK = r"(?:[\r\n]|%0[da]|&#0*1[03];|&#x0*[ad];)"


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    category: Category
    paranoia_level: int
    severity: Severity
    description: str


@dataclass(frozen=True, slots=True)
class Signature:
    rule: Rule
    pattern: str  # Hyperscan syntax (PCRE without back-references or look-around)
    places: frozenset[Place]
    view: View = View.NORMAL


@dataclass(frozen=True, slots=True)
class Check:
    rule: Rule
    # The location that breaks the rule ("header:host", "request-line"), or None.
    test: Callable[[RequestView, Policy], str | None]
    body: bool = False  # looks at the body, so runs once it has been read


def rule(
    id_: str, description: str, *, pl: int = 1, severity: Severity = Severity.CRITICAL
) -> Rule:
    category = Category(id_.split("-", 1)[0])
    return Rule(id_, category, pl, severity, description)


def signature(
    id_: str,
    description: str,
    pattern: str,
    *,
    places: frozenset[Place] = INPUTS,
    view: View = View.NORMAL,
    pl: int = 1,
    severity: Severity = Severity.CRITICAL,
) -> Signature:
    return Signature(rule(id_, description, pl=pl, severity=severity), pattern, places, view)


def check(
    id_: str,
    description: str,
    test: Callable[[RequestView, Policy], str | None],
    *,
    pl: int = 1,
    severity: Severity = Severity.CRITICAL,
    body: bool = False,
) -> Check:
    return Check(rule(id_, description, pl=pl, severity=severity), test, body)


def words(*alternatives: str) -> str:
    """A non-capturing alternation of literal words (already regex-escaped where needed)."""
    return "(?:" + "|".join(alternatives) + ")"
