"""Variants: the canonical image cropped to fill an exact size and encoded as AVIF, WebP or
JPEG, with no metadata (`keep=none`). Runs in a CPU-pool worker."""

from __future__ import annotations

import pyvips

CONTENT_TYPES = {"avif": "image/avif", "webp": "image/webp", "jpeg": "image/jpeg"}
EXTENSIONS = {"avif": "avif", "webp": "webp", "jpeg": "jpg"}
FORMAT_OF_EXTENSION = {ext: fmt for fmt, ext in EXTENSIONS.items()}


def render(canonical: bytes, width: int, height: int, fmt: str) -> bytes:
    image = pyvips.Image.thumbnail_buffer(canonical, width, height=height, crop="centre")
    if fmt == "avif":
        data: bytes = image.heifsave_buffer(Q=55, compression="av1", effort=0, keep="none")
    elif fmt == "webp":
        data = image.webpsave_buffer(Q=80, effort=2, keep="none")
    elif fmt == "jpeg":
        if image.hasalpha():
            image = image.flatten(background=[255, 255, 255])
        data = image.jpegsave_buffer(Q=82, optimize_coding=True, keep="none")
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return data


def render_many(
    canonical: bytes, sizes: tuple[tuple[int, int], ...], formats: tuple[str, ...]
) -> dict[str, bytes]:
    """`{"<w>x<h>.<ext>": bytes}` for every size and format."""
    return {
        f"{w}x{h}.{EXTENSIONS[fmt]}": render(canonical, w, h, fmt)
        for w, h in sizes
        for fmt in formats
    }
