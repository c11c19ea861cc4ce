"""Remote file inclusion: an argument that hands the application a URL to load code from.

APIs pass URLs (webhooks, push endpoints, redirect URIs, images) all the time, to domains and
to addresses alike (a development webhook is http://127.0.0.1:3000/hook), so a URL is not an
inclusion by itself. PL1 flags the shapes inclusion exploits take: a URL to a bare address
that names a script or a text file (the payload hosted on a compromised box), a URL ending in
`?` or a NUL (to cut off the suffix the application appends), a URL given to a well-known
include parameter or an include() call, and stream wrappers. Any URL to a bare address is PL2
(rfi-006), any off-site URL a PL2 warning (rfi-005).
"""

from __future__ import annotations

from services.gateway.waf.signatures.rule import (
    INPUTS,
    Place,
    Severity,
    Signature,
    signature,
)

_SCHEME = r"(?:https?|ftps?|file|smb|sftp|gopher|dict|ldap|tftp)"
_ARGS = frozenset({Place.ARG, Place.ARG_NAME, Place.COOKIE, Place.COOKIE_NAME, Place.BODY})
# A host given as an address: dotted IPv4, bracketed IPv6, or IPv6 without its brackets.
_IP_HOST = (
    r"(?:(?:\d{1,3}\.){3}\d{1,3}\b|\[?[0-9a-f]{0,4}:[0-9a-f]{0,4}:[0-9a-f:]{1,36}\]?"
    r"|\[[0-9a-f:.]{2,45}\])"
)
# What an include loads: server-side code and the text files payloads are hosted as.
_INCLUDE_EXTENSIONS = r"(?:php\d?|phtml|phar|inc|txt|asp|aspx|jsp|pl|cgi|py|sh)"

SIGNATURES: tuple[Signature, ...] = (
    signature(
        "rfi-001",
        "URL to a bare IP address naming a script or text file to include "
        "(http://203.0.113.7/shell.txt, https://[2001:db8::1]/x.php)",
        r"^ ?" + _SCHEME + r" ?: ?/{2,}(?:[^/@ ]{0,64}@)?" + _IP_HOST + r"(?::\d{1,5})?/"
        r"(?:[^?# ]{0,200}/)?[^/?# ]{0,80}\." + _INCLUDE_EXTENSIONS + r"(?:[?#&%]|$)",
        places=_ARGS,
    ),
    signature(
        "rfi-002",
        "URL ending in a question mark or NUL to cut off an appended suffix (http://x/s.txt?)",
        r"^ ?" + _SCHEME + r" ?:.+(?:\?|%00|\x00)$",
        places=_ARGS,
    ),
    signature(
        "rfi-003",
        "URL given to a well-known include parameter or an include() call",
        r"(?:\binclude ?\([^)]*|mosconfig_absolute_path|_conf\[path\]"
        r"|_server\[document_root\]|gallery_basedir|path\[docroot\]|appserv_root"
        r"|config\[root_dir\]|\binclude_path|\bphpbb_root_path|\bbase_?path)"
        r" ?= ?" + _SCHEME + r" ?:",
        places=frozenset({Place.URI, Place.BODY, Place.ARG, Place.ARG_NAME}),
    ),
    signature(
        "rfi-004",
        "Stream wrapper that loads remote or encoded code (php://, expect://, phar://, zip://)",
        r"^ ?(?:php|expect|phar|zip|zlib|compress\.(?:zlib|bzip2)|glob|ogg|rar|ssh2\.\w+"
        r"|data|jar|netdoc|input) ?: ?/{0,2}[\w\[]",
        places=_ARGS,
    ),
    signature(
        "rfi-005",
        "URL to another site as an argument (off-domain reference)",
        r"^ ?(?:https?|ftps?) ?: ?/{2,}[^/?# ]+",
        places=frozenset(INPUTS - {Place.PATH, Place.USER_HEADER}),
        pl=2,
        severity=Severity.WARNING,
    ),
    signature(
        "rfi-006",
        "URL to a bare IP address as an argument (http://203.0.113.7/, http://[2001:db8::1]/)",
        r"^ ?" + _SCHEME + r" ?: ?/{2,}(?:[^/@ ]{0,64}@)?" + _IP_HOST,
        places=_ARGS,
        pl=2,
    ),
)
