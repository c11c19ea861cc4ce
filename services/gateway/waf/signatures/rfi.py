"""Remote file inclusion: an argument that hands the application a URL to load code from.

APIs pass URLs (callbacks, images) all the time, so PL1 flags only the shapes inclusion
exploits use: a URL to a bare IP address, a URL ending in `?` (to cut off a suffix the
application appends), well-known include parameters given a URL, and stream wrappers.
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

SIGNATURES: tuple[Signature, ...] = (
    signature(
        "rfi-001",
        "URL to a bare IP address as an argument (http://203.0.113.7/shell.txt)",
        r"^ ?" + _SCHEME + r" ?: ?/{2,}(?:[^/@ ]{0,64}@)?(?:\d{1,3}\.){3}\d{1,3}\b"
        r"|^ ?" + _SCHEME + r" ?: ?/{2,}\[?[0-9a-f]{0,4}:[0-9a-f:]{2,40}\]"
        r"|^ ?" + _SCHEME + r" ?: ?/{2,}(?:0x[0-9a-f]{8}|\d{8,10})\b",
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
)
