"""Perceptual hashes (imagehash's DCT pHash, 64 bits) and their Hamming distance: an image and
its near-duplicates (re-encoded, resized, slightly cropped or recoloured) land a few bits apart."""

from __future__ import annotations

import imagehash
import pyvips
from PIL import Image


def perceptual_hash(image: pyvips.Image) -> str:
    """64-bit pHash as 16 hex digits; a 64x64 greyscale thumbnail goes to imagehash."""
    small = image.thumbnail_image(64, height=64, size="force").colourspace("b-w")
    if small.bands > 1:
        small = small.extract_band(0)
    pil = Image.frombytes("L", (small.width, small.height), small.cast("uchar").write_to_memory())
    return str(imagehash.phash(pil))


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()
