"""Undo the encodings and obfuscations attackers hide payloads behind, in linear time.

Signatures never see a raw value. `normal()` is the canonical view the injection rules match:
percent (`%XX`, `%uXXXX`), HTML-entity and JavaScript (`\\uXXXX`, `\\xHH`) escapes undone
up to `MAX_DECODE_ROUNDS` times (so double- and triple-encoded payloads unfold but a hostile
value cannot make us loop), compatibility forms folded (a full-width less-than sign is `<`),
NULs dropped, lower case, `/* comments */` replaced by a space (the body of MySQL's
executable `/*!...*/` kept) and whitespace runs collapsed to one space. `command_line()`
goes further for shell payloads, as a shell would read them: quotes, backslashes and carets
vanish (`c\\a"t"` is `cat`), `$IFS` is a space and a line break separates commands.
`views()` gives both, decoding once.

Every step is a single left-to-right pass (str methods or regexes without nested
quantifiers), so the cost of a value is proportional to its length whatever it holds.
"""

from __future__ import annotations

import html
import re
import unicodedata
from urllib.parse import unquote

MAX_DECODE_ROUNDS = 3
# Longer values are cut before decoding: a 1 MiB header must not cost 1 MiB of work per view.
MAX_VALUE_CHARS = 8192

_ESCAPED = re.compile(r"%[0-9a-fA-F]{2}|%u[0-9a-fA-F]{4}|&#?\w+;?|\\[ux][0-9a-fA-F]")
_PERCENT_U = re.compile(r"%u([0-9a-fA-F]{4})")
_JS_ESCAPE = re.compile(r"\\u\{?([0-9a-fA-F]{4})\}?|\\x([0-9a-fA-F]{2})")
_WHITESPACE = re.compile(r"[\s\x00-\x1f\x7f\xa0]+")
_SHELL_SPACE = re.compile(r"\$(?:\{ifs\}|ifs\b(?:\$\d)?)|\$[@*]|\$\{[@*]\}")
_SHELL_QUOTES = str.maketrans("", "", "\\\"'^")
# Typographic quotes and primes: some databases and collations take them for ASCII quotes.
_QUOTES = str.maketrans(
    dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u00b4\u02bc", "'")
    | dict.fromkeys("\u201c\u201d\u201e\u201f\u2033", '"')
)
_HIGH_BIT_BRACKETS = str.maketrans({"\xbc": "\xbc<", "\xbe": ">\xbe"})
# Entities browsers or filters read case-insensitively (`&tab;`, `&NewLine;`, `&COLON;`):
# html.unescape only knows their exact spellings.
_LOOSE_ENTITIES = {
    "tab": "\t", "newline": "\n", "colon": ":", "lpar": "(", "rpar": ")", "sol": "/",
    "bsol": "\\", "period": ".", "excl": "!", "quot": '"', "apos": "'", "num": "#",
    "lt": "<", "gt": ">", "grave": "`", "semi": ";", "equals": "=", "plus": "+", "comma": ",",
    "lsqb": "[", "rsqb": "]", "lcub": "{", "rcub": "}", "dollar": "$", "percnt": "%",
}  # fmt: skip
_LOOSE_ENTITY = re.compile(r"&(" + "|".join(_LOOSE_ENTITIES) + r");", re.IGNORECASE)
# What makes the command view differ from the normal one (besides edge whitespace).
_SHELL_SYNTAX = re.compile(r"['\"\\^$\r\n]|/\*")
_LINE_BREAKS = re.compile(r"[\r\n]+")


def _js_unescape(match: re.Match[str]) -> str:
    code = match.group(1) or match.group(2)
    return chr(int(code, 16))


def _decode_once(text: str) -> str:
    if "%u" in text or "%U" in text:
        text = _PERCENT_U.sub(lambda match: chr(int(match.group(1), 16)), text)
    if "%" in text:
        text = unquote(text, errors="surrogateescape")
    if "&" in text:
        text = html.unescape(text)
    if "\\" in text:
        text = _JS_ESCAPE.sub(_js_unescape, text)
    return text


def decode(text: str) -> str:
    """Percent, entity and JS escapes undone until stable, at most MAX_DECODE_ROUNDS times."""
    for _ in range(MAX_DECODE_ROUNDS):
        if _ESCAPED.search(text) is None:
            break
        decoded = _decode_once(text)
        if decoded == text:
            break
        text = decoded
    return text


def strip_comments(text: str) -> str:
    """`/* ... */` becomes a space; MySQL runs the body of `/*!50000 ... */`, so that stays."""
    out: list[str] = []
    position = 0
    while (start := text.find("/*", position)) >= 0:
        out.append(text[position:start])
        end = text.find("*/", start + 2)
        body_end = len(text) if end < 0 else end
        if text.startswith("/*!", start):
            body = text[start + 3 : body_end].lstrip("0123456789")
            out.append(f" {body} ")
        else:
            out.append(" ")
        position = len(text) if end < 0 else end + 2
    out.append(text[position:])
    return "".join(out)


def _fold(text: str) -> str:
    """Compatibility forms folded (full-width letters, ligatures), but the ¼...¾ pair kept:
    old browsers read them as < and > with the high bit dropped, which NFKC would hide."""
    if "\xbc" in text or "\xbe" in text:
        text = text.translate(_HIGH_BIT_BRACKETS)
    return unicodedata.normalize("NFKC", text).translate(_QUOTES)


def _entities(text: str) -> str:
    return _LOOSE_ENTITY.sub(lambda match: _LOOSE_ENTITIES[match.group(1).lower()], text)


def _decoded(value: str) -> str:
    """Folded, decoded, NUL-free and lower case: what both views start from."""
    text = value[:MAX_VALUE_CHARS]
    if not text.isascii():
        text = _fold(text)
    text = decode(text)
    if "&" in text:
        text = _entities(text)
    if not text.isascii():
        text = _fold(text)  # what the decoding revealed
    return text.replace("\x00", "").lower()


def _as_normal(text: str) -> str:
    if "/*" in text:
        text = strip_comments(text)
    return _WHITESPACE.sub(" ", text)


def _as_command(text: str) -> str:
    text = _LINE_BREAKS.sub(";", text)
    if "$" in text:
        text = _SHELL_SPACE.sub(" ", text)
    return _WHITESPACE.sub(" ", text.translate(_SHELL_QUOTES)).strip()


def normal(value: str) -> str:
    """The canonical view the signatures match: decoded, folded, lower case, comment-free.
    Leading and trailing whitespace stays (as one space): ` onload=` differs from `onload=`."""
    return _as_normal(_decoded(value))


def command_line(value: str) -> str:
    """The value as a shell would tokenise it: decoded, lower case, no quoting or escaping,
    `$IFS` a space and line breaks command separators (`;`)."""
    return _as_command(_decoded(value))


def views(value: str) -> tuple[str, str | None]:
    """`normal(value)` and `command_line(value)`, decoding once; the command view is None
    when it reads as the normal one (no quotes, escapes, `$`, line breaks or comments), so
    the value is scanned once for both."""
    text = _decoded(value)
    if _SHELL_SYNTAX.search(text) is None:
        return _as_normal(text), None
    return _as_normal(text), _as_command(text)
