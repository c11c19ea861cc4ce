"""Undo the encodings attackers hide payloads behind, before any signature sees the text.

The pipeline mirrors ModSecurity/CRS transformations (t:urlDecodeUni, t:htmlEntityDecode,
t:lowercase, t:replaceComments, t:compressWhitespace): decoding repeats a bounded number of
times so double- and triple-encoded payloads unfold, but a hostile value cannot make us loop.
"""

from __future__ import annotations

import html
import re
from urllib.parse import unquote

MAX_DECODE_ROUNDS = 3
# Longer values are cut before normalisation: signatures look at the start of a value, and a
# 1 MiB header must not cost 1 MiB of regex work per rule.
MAX_VALUE_CHARS = 8192

_PERCENT_OR_ENTITY = re.compile(r"%[0-9a-fA-F]{2}|%u[0-9a-fA-F]{4}|&#?\w+;?")
_PERCENT_U = re.compile(r"%u([0-9a-fA-F]{4})")
# MySQL executes the body of /*!50000 ... */ comments, so only the markers go, not the body.
_VERSIONED_COMMENT = re.compile(r"/\*!\d*(.*?)\*/", re.DOTALL)
_COMMENT = re.compile(r"/\*.*?(?:\*/|$)", re.DOTALL)
_WHITESPACE = re.compile(r"[\s\x00-\x1f\x7f\xa0]+")


def _decode_once(text: str) -> str:
    text = _PERCENT_U.sub(lambda match: chr(int(match.group(1), 16)), text)
    return html.unescape(unquote(text, errors="surrogateescape"))


def decode(text: str) -> str:
    """URL- and HTML-entity-decode until stable, at most MAX_DECODE_ROUNDS times."""
    for _ in range(MAX_DECODE_ROUNDS):
        if not _PERCENT_OR_ENTITY.search(text):
            break
        decoded = _decode_once(text)
        if decoded == text:
            break
        text = decoded
    return text


def normalize(text: str) -> str:
    """The canonical form signatures match against: decoded, lower-case, comments as spaces."""
    text = decode(text[:MAX_VALUE_CHARS]).lower()
    if "/*" in text:
        text = _COMMENT.sub(" ", _VERSIONED_COMMENT.sub(r" \1 ", text))
    return _WHITESPACE.sub(" ", text).strip()
