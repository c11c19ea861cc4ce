"""Images for the avatar tests and benchmark, made with libvips: photo-like JPEGs (smooth colour
fields with sensor-like grain, so they compress like camera photos: about 3 bits per pixel), flat
colours for the stub moderator, and hostile files (bombs, polyglots, truncated data)."""

from __future__ import annotations

import struct
import zlib

import pyvips

GRAIN = 48  # pixels per random control point of the smooth colour field


def photo(width: int, height: int, seed: int = 1) -> pyvips.Image:
    cols, rows = -(-width // GRAIN) + 1, -(-height // GRAIN) + 1
    bands = [
        pyvips.Image.gaussnoise(cols, rows, sigma=60, mean=128, seed=seed * 7 + i) for i in range(3)
    ]
    field = bands[0].bandjoin(bands[1:]).resize(GRAIN, kernel="cubic")
    grain = pyvips.Image.gaussnoise(field.width, field.height, sigma=10, mean=0, seed=seed * 7 + 5)
    image = (field + grain).cast("uchar").crop(0, 0, width, height)
    return image.copy(interpretation="srgb")


def photo_jpeg(width: int, height: int, seed: int = 1, **exif: str) -> bytes:
    image = photo(width, height, seed)
    for name, value in exif.items():
        image.set_type(pyvips.GValue.gstr_type, name, value)
    data: bytes = image.jpegsave_buffer(Q=88, keep="all")
    return data


def flat(rgb: tuple[int, int, int], side: int = 256, fmt: str = ".png") -> bytes:
    image = (pyvips.Image.black(side, side, bands=3) + list(rgb)).cast("uchar")
    data: bytes = image.copy(interpretation="srgb").write_to_buffer(fmt)
    return data


def with_gps(width: int = 640, height: int = 480, seed: int = 3) -> bytes:
    """A JPEG carrying EXIF (camera, GPS position), a comment and an orientation tag."""
    image = photo(width, height, seed)
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Make", "SurgeCam")
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd3-GPSLatitude", "48/1 51/1 24/1")
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd3-GPSLatitudeRef", "N")
    image.set_type(pyvips.GValue.gstr_type, "jpeg-comment", "secret location")
    image.set_type(pyvips.GValue.gint_type, "orientation", 6)
    data: bytes = image.jpegsave_buffer(Q=88, keep="all")
    return data


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny, valid-looking PNG declaring width x height (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (1 + 3 * 64) * 64, 9)  # a little real data, then the end
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", rows)
        + _chunk(b"IEND", b"")
    )


SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"


def gif_js_polyglot() -> bytes:
    """A GIF whose bytes are also a script (the classic GIFAR / GIF-JS polyglot)."""
    gif: bytes = flat((10, 20, 30), side=16, fmt=".gif")
    return gif[:-1] + b"<script>alert(1)</script>" + gif[-1:]


def jpeg_with_zip_appended() -> bytes:
    return photo_jpeg(64, 64) + b"PK\x03\x04" + b"\x00" * 64
