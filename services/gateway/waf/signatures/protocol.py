"""Protocol attacks found by pattern: NUL bytes, encoding abuse, request smuggling, response
splitting and header injection, LDAP injection, mod_proxy targets; the structural protocol
rules (request line, headers, content types) are checks, in protocol_checks.py.
"""

from __future__ import annotations

from services.gateway.waf.signatures.rule import (
    ALL_HEADERS,
    INPUTS,
    LINE_BREAK,
    Place,
    Severity,
    Signature,
    View,
    signature,
)

SIGNATURES: tuple[Signature, ...] = (
    signature(
        "protocol-101",
        "NUL byte in the request, raw or percent-encoded (string truncation)",
        r"\x00|%00",
        places=INPUTS | ALL_HEADERS,
        view=View.RAW,
    ),
    signature(
        "protocol-102",
        "Invalid percent-encoding in the request target",
        r"(?i)%(?:[^0-9a-fu]|[0-9a-f](?:[^0-9a-f]|$)|u(?:[^0-9a-f]|[0-9a-f]{1,3}(?:[^0-9a-f]|$))|$)",
        places=frozenset({Place.URI}),
        view=View.RAW,
    ),
    signature(
        "protocol-103",
        "Full-width or IIS %u encoding abuse (%uFF0E, %u002f)",
        r"(?i)%u(?:ff[0-9a-f]{2}|00[0-9a-f]{2}|20[0-9a-f]{2}|22[0-9a-f]{2})",
        places=frozenset({Place.URI, Place.BODY, Place.ARG}),
        view=View.RAW,
    ),
    signature(
        "protocol-104",
        "HTTP request smuggled in a value (CRLF GET /x HTTP/1.1)",
        r"(?:^|\s)(?:get|post|head|options|connect|put|delete|trace|track|patch|propfind"
        r"|proppatch|mkcol|copy|move|lock|unlock) [^\s]+ http/\d",
        places=INPUTS,
    ),
    signature(
        "protocol-105",
        "HTTP response splitting or header injection (CRLF Set-Cookie:, CRLF Location:)",
        r"(?i)" + LINE_BREAK + r" ?(?:location|refresh|set-cookie|cookie"
        r"|content-(?:type|length|disposition)|host|x-forwarded-(?:for|host|server)|via"
        r"|remote-ip|remote-addr|originating-ip|transfer-encoding|access-control-\w+"
        r"|x-xss-protection|http/\d) ?:?"
        r"|"
        + LINE_BREAK
        + r"{2,} ?<(?:html|meta|script|body|title)\b|[\r\n][\w-]{1,40} ?: ?.{0,200}[\r\n]"
        r"|%0[da][\w-]{1,40} ?:",
        places=INPUTS | ALL_HEADERS,
        view=View.RAW,
    ),
    signature(
        "protocol-106",
        "Line break in the request path or an argument name (header injection)",
        r"(?i)" + LINE_BREAK,
        places=frozenset({Place.PATH, Place.ARG_NAME, Place.COOKIE_NAME, Place.HEADER}),
        view=View.RAW,
    ),
    signature(
        "protocol-107",
        "LDAP filter injection (*)(uid=*))(|(uid=*, printer)(uid=*))",
        r"\) ?[|&!]? ?\( ?[|&!]? ?\(? ?[\w;.-]{1,40} ?[~<>]?= ?|\) ?\( ?[|&!] ?\(?|^\*? ?\) ?[|&!(]"
        r"|\( ?[|&!] ?\( ?[\w;.-]{1,40} ?[~<>]?=",
        places=frozenset({Place.ARG, Place.ARG_NAME, Place.COOKIE, Place.BODY}),
    ),
    signature(
        "protocol-108",
        "Apache mod_proxy unix-socket target (unix:/run/x.sock|http://)",
        r"unix:[^|]*\|",
        places=frozenset({Place.URI, Place.PATH, Place.ARG}),
    ),
    signature(
        "protocol-109",
        "Forbidden characters in an uploaded file name (double quote, =, backslash, ;)",
        r"[\"=\\\\;]",
        places=frozenset({Place.FILENAME}),
    ),
    signature(
        "protocol-110",
        "Unicode escape in the target, a header or a value (\\u0027 smuggling past filters)",
        r"\\u[0-9a-f]{4}",
        places=frozenset({Place.URI, Place.ARG, Place.COOKIE, Place.USER_HEADER}),
        view=View.RAW,
    ),
    signature(
        "protocol-111",
        "Double or multiple URL encoding in the request target (%252e)",
        r"(?i)%25[0-9a-f]{2}",
        places=frozenset({Place.URI}),
        view=View.RAW,
        pl=2,
        severity=Severity.WARNING,
    ),
    signature(
        "protocol-112",
        "Control characters in the request (non-printable bytes)",
        r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]",
        places=INPUTS | ALL_HEADERS,
        view=View.RAW,
        pl=2,
        severity=Severity.WARNING,
    ),
)
