"""Inspection refuses what must never be decoded or served, and strips what must never leak."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import pyvips

from services.avatars.imaging.inspect import Limits, inspect_file
from services.avatars.imaging.sniff import RefusedImageError, Scanner, sniff
from tests.avatars_images import (
    HTML,
    SVG,
    flat,
    gif_js_polyglot,
    jpeg_with_zip_appended,
    photo_jpeg,
    png_bomb,
    with_gps,
)

pytestmark = pytest.mark.unit
LIMITS = Limits(max_pixels=40_000_000, max_side=12_000, canonical_max_side=1024)


def inspect_bytes(tmp_path: Path, data: bytes) -> object:
    path = tmp_path / "upload"
    path.write_bytes(data)
    return inspect_file(str(path), LIMITS)


def test_a_png_declaring_100000_by_100000_is_refused_before_decoding(tmp_path: Path) -> None:
    bomb = png_bomb()
    assert len(bomb) < 1000
    started = time.perf_counter()
    with pytest.raises(RefusedImageError, match="decompression bomb") as refused:
        inspect_bytes(tmp_path, bomb)
    assert "100000x100000" in refused.value.reason
    # Decoding 10^10 pixels would take minutes and 30 GB; the header read takes milliseconds.
    assert time.perf_counter() - started < 2


def test_the_side_limit_applies_too(tmp_path: Path) -> None:
    with pytest.raises(RefusedImageError, match="decompression bomb"):
        inspect_file(str(_write(tmp_path, png_bomb(20_000, 10))), LIMITS)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (SVG, "not a JPEG, PNG, WebP or GIF"),
        (HTML, "not a JPEG, PNG, WebP or GIF"),
        (b"GIF89a" + HTML, "polyglot"),
        (gif_js_polyglot(), "polyglot"),
        (jpeg_with_zip_appended(), "end marker"),
        (flat((1, 2, 3)) + b"<html>", "polyglot"),
    ],
    ids=["svg", "html", "gif-header-html", "gif-js", "jpeg-zip", "png-trailing-html"],
)
def test_svg_html_and_polyglots_are_refused(tmp_path: Path, data: bytes, reason: str) -> None:
    with pytest.raises(RefusedImageError, match=reason):
        inspect_bytes(tmp_path, data)


def test_a_truncated_jpeg_fails_with_a_reason(tmp_path: Path) -> None:
    whole = photo_jpeg(640, 480)
    with pytest.raises(RefusedImageError) as refused:
        inspect_bytes(tmp_path, whole[: len(whole) // 2] + b"\xff\xd9")
    assert "corrupt or truncated" in refused.value.reason


def test_metadata_is_stripped_and_the_image_auto_oriented(tmp_path: Path) -> None:
    result = inspect_bytes(tmp_path, with_gps(640, 480))
    canonical = pyvips.Image.new_from_buffer(result.canonical, "")  # type: ignore[attr-defined]
    assert (canonical.width, canonical.height) == (480, 640)  # orientation 6 applied
    fields = canonical.get_fields()
    assert not [f for f in fields if f.startswith(("exif", "xmp", "iptc", "icc", "orientation"))]
    assert b"SurgeCam" not in result.canonical  # type: ignore[attr-defined]
    assert b"secret location" not in result.canonical  # type: ignore[attr-defined]


def test_large_photos_are_shrunk_to_the_canonical_size(tmp_path: Path) -> None:
    result = inspect_bytes(tmp_path, photo_jpeg(3000, 2000))
    assert (result.width, result.height) == (1024, 683)  # type: ignore[attr-defined]
    assert result.source_type == "image/jpeg"  # type: ignore[attr-defined]


def test_the_scanner_checks_the_declared_type_as_bytes_arrive() -> None:
    scanner = Scanner(declared="image/png")
    with pytest.raises(RefusedImageError, match="not the declared image/png"):
        scanner.feed(photo_jpeg(32, 32)[:64])
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"


def test_a_marker_split_across_chunks_is_still_found() -> None:
    scanner = Scanner()
    scanner.feed(b"GIF89a" + b"\x00" * 100 + b"<scr")
    with pytest.raises(RefusedImageError, match="polyglot"):
        scanner.feed(b"ipt>alert(1)")


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "file"
    path.write_bytes(data)
    return path
