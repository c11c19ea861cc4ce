"""The inspect step's work, in a CPU-pool worker: from the uploaded file to the canonical image.

1. type from magic bytes, content and structure checks (`sniff.Scanner`);
2. dimensions from the header only, refused past AVATARS_MAX_PIXELS / AVATARS_MAX_SIDE before
   a single pixel is decoded (decompression bombs);
3. decoded with `fail_on=warning` (a truncated or corrupt file fails, never half-decoded),
   shrink-on-load to AVATARS_CANONICAL_MAX_SIDE, auto-oriented from EXIF, converted to sRGB;
4. re-encoded as WebP with `keep=none`: no EXIF (GPS included), XMP, IPTC, ICC or comments.
   The original bytes are never served.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyvips

from services.avatars.imaging.phash import perceptual_hash
from services.avatars.imaging.sniff import GIF, RefusedImageError, Scanner

CHUNK = 1024 * 1024
CANONICAL_TYPE = "image/webp"


@dataclass(frozen=True)
class Limits:
    max_pixels: int
    max_side: int
    canonical_max_side: int


@dataclass(frozen=True)
class Inspected:
    canonical: bytes
    width: int
    height: int
    source_type: str
    source_width: int
    source_height: int
    phash: str


def scan_file(path: Path) -> str:
    scanner = Scanner()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            scanner.feed(chunk)
    return scanner.finish()


def inspect_file(path: str, limits: Limits) -> Inspected:
    kind = scan_file(Path(path))
    try:
        header = pyvips.Image.new_from_file(path, access="sequential", fail_on="warning")
    except pyvips.Error as exc:
        raise RefusedImageError(
            f"unreadable image header: {_first_line(exc)}", status=422
        ) from None
    width, height = header.width, header.height
    if kind == GIF:  # a GIF's header height covers every frame; the first frame is what we use
        height = header.get("page-height") if header.get_typeof("page-height") else height
    if width * height > limits.max_pixels or max(width, height) > limits.max_side:
        raise RefusedImageError(
            f"{width}x{height} exceeds the limits ({limits.max_pixels} pixels, "
            f"{limits.max_side} per side): refused before decoding (decompression bomb)",
            status=422,
        )
    side = limits.canonical_max_side
    try:
        source = pyvips.Source.new_from_file(path)
        image = pyvips.Image.thumbnail_source(
            source, side, height=side, size="down", option_string="fail_on=warning"
        )
        # Decoded whole here (at most the canonical size): a truncated file fails now, and the
        # pixels are read once for the encoder and the hash.
        image = _srgb(image).copy_memory()
        canonical = image.webpsave_buffer(Q=90, keep="none", effort=2)
        phash = perceptual_hash(image)
    except pyvips.Error as exc:
        raise RefusedImageError(f"corrupt or truncated image: {_first_line(exc)}", 422) from None
    return Inspected(
        canonical=canonical,
        width=image.width,
        height=image.height,
        source_type=kind,
        source_width=width,
        source_height=height,
        phash=phash,
    )


def _srgb(image: pyvips.Image) -> pyvips.Image:
    if image.get_typeof("icc-profile-data"):
        image = image.icc_transform("srgb", embedded=True, intent="perceptual")
    if image.interpretation not in ("srgb", "b-w"):
        image = image.colourspace("srgb")
    if image.format != "uchar":
        image = image.cast("uchar")
    return image


def _first_line(error: pyvips.Error) -> str:
    text = " ".join(str(error).split())
    return text[:200]
