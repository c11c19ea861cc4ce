"""Which bodies and uploaded files are text the signatures may read, and which are binary.

Signatures are written for text: over the bytes of a JPEG, a PNG or a zip they find whatever
random data happens to spell (`0x7f...`, `<?`, `;id`), which is only ever a false positive.
A body or a file is binary when its declared media type says so, or, where nothing is
declared (an uploaded file part without a Content-Type, as HTTP libraries send one), when
its first bytes are a binary format's signature or it is not text at all. The look at the
content is bounded (`SNIFF_BYTES`) and only decides what is skipped where skipping gives an
attacker nothing: file contents (which reach the application as a file, never as a
parameter; CRS does not read them either), a body without a Content-Type (refused by
protocol-020 anyway) and a body that claims JSON but does not parse (refused by the
application's own parser).
"""

from __future__ import annotations

import re

SNIFF_BYTES = 1024
# Share of the sniffed bytes that are neither text nor part of valid UTF-8 above which the
# data is binary (compressed and encrypted data are about 70 % such bytes, text none).
_BINARY_SHARE = 0.1
# A byte no text has: a control character (but tab, line breaks, form feed) or invalid UTF-8
# (decoded with surrogate escapes).
_BINARY_CHAR = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f\udc80-\udcff]")
_TEXT_TYPES = (
    "text/",
    "application/json",
    "application/xml",
    "application/x-www-form-urlencoded",
    "application/javascript",
    "application/ecmascript",
    "application/graphql",
    "application/x-ndjson",
    "application/yaml",
    "application/x-yaml",
    "application/csp-report",
    "multipart/",
)
_TEXT_SUFFIXES = ("+json", "+xml", "+yaml")
_JAVA_SERIALIZED = b"\xac\xed\x00\x05"
# Leading bytes of binary formats: images, media, fonts, documents, archives, executables.
_MAGIC = (
    b"\xff\xd8\xff",  # JPEG
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"II*\x00",  # TIFF (and camera raw formats built on it)
    b"MM\x00*",
    b"\x00\x00\x01\x00",  # ICO
    b"%PDF-",
    b"PK\x03\x04",  # zip, and the formats built on it (docx, xlsx, jar, apk, epub)
    b"PK\x05\x06",
    b"\x1f\x8b",  # gzip
    b"BZh",
    b"\xfd7zXZ\x00",
    b"7z\xbc\xaf\x27\x1c",
    b"\x28\xb5\x2f\xfd",  # zstd
    b"Rar!\x1a\x07",
    b"OggS",
    b"ID3",  # MP3
    b"fLaC",
    b"\x1a\x45\xdf\xa3",  # Matroska, WebM
    b"wOFF",
    b"wOF2",
    b"\x7fELF",
    b"\x00asm",
)


def is_text_type(media_type: str) -> bool:
    """A media type (lower case, no parameters) whose content is text: text/*, JSON, XML,
    forms, scripts, YAML and their `+json`/`+xml` kin (SVG is `image/svg+xml`: text)."""
    return media_type.startswith(_TEXT_TYPES) or media_type.endswith(_TEXT_SUFFIXES)


def looks_binary(data: bytes) -> bool:
    """True when `data` starts with a binary format's signature or is not mostly text; never
    for a Java serialization stream, which is what java-005 looks for in any container."""
    head = data[:SNIFF_BYTES]
    if head.startswith(_JAVA_SERIALIZED):
        return False
    if head.startswith(_MAGIC) or (head[4:8] == b"ftyp") or _riff(head):
        return True  # ISO media (MP4, MOV, HEIC, AVIF) and RIFF (WebP, WAV, AVI) too
    if not head:
        return False
    text = head.decode("utf-8", "surrogateescape")
    if len(head) == SNIFF_BYTES and len(data) > SNIFF_BYTES:
        text = text[:-3]  # a character cut at the edge is not a sign of binary
    return len(_BINARY_CHAR.findall(text)) > _BINARY_SHARE * len(text)


def _riff(head: bytes) -> bool:
    return head.startswith(b"RIFF") and head[8:12] in (b"WEBP", b"WAVE", b"AVI ")
