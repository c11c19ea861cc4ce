"""Per-label thresholds, perceptual-hash distances, the upload URL signature, the settings."""

from __future__ import annotations

import pytest

from services.avatars.blobs.signing import UrlSigner
from services.avatars.imaging.phash import distance, perceptual_hash
from services.avatars.moderation.base import Label, decide
from services.avatars.settings import AvatarsSettings, parse_sizes
from tests.avatars_images import photo

pytestmark = pytest.mark.unit
THRESHOLDS = {"Explicit": (0.4, 0.85), "Violence": (0.7, 0.95)}


@pytest.mark.parametrize(
    ("labels", "decision"),
    [
        ([Label("Explicit", 0.1), Label("Violence", 0.2)], "approved"),
        ([Label("Explicit", 0.4)], "in_review"),
        ([Label("Violence", 0.69)], "approved"),
        ([Label("Violence", 0.8), Label("Explicit", 0.1)], "in_review"),
        ([Label("Explicit", 0.85)], "rejected"),
        ([Label("Violence", 0.8), Label("Explicit", 0.9)], "rejected"),
        ([Label("Gambling", 0.99)], "approved"),  # no threshold and no "*": never blocks
        ([], "approved"),
    ],
)
def test_thresholds_decide_per_label(labels: list[Label], decision: str) -> None:
    assert decide(labels, THRESHOLDS).decision == decision


def test_the_star_threshold_covers_unlisted_labels_and_reasons_name_them() -> None:
    verdict = decide([Label("Gambling", 0.95)], {**THRESHOLDS, "*": (0.5, 0.9)})
    assert verdict.decision == "rejected"
    assert verdict.reason == "Gambling (0.95 >= 0.9)"


def test_near_duplicates_are_close_and_other_images_far() -> None:
    original = photo(800, 600, seed=4)
    copy = original.crop(10, 8, 780, 584).resize(0.4)
    brighter = (original * 1.1).cast("uchar")
    other = photo(800, 600, seed=5)
    h = perceptual_hash(original)
    assert distance(h, perceptual_hash(copy)) <= 6
    assert distance(h, perceptual_hash(brighter)) <= 6
    assert distance(h, perceptual_hash(other)) > 16
    assert distance("ffffffffffffffff", "0000000000000000") == 64


def test_an_upload_url_signature_covers_every_term() -> None:
    signer = UrlSigner(b"k" * 32)
    sig = signer.sign("a" * 32, 1000, 500, "image/png")
    assert signer.valid(sig, "a" * 32, 1000, 500, "image/png")
    assert not signer.valid(sig, "b" * 32, 1000, 500, "image/png")
    assert not signer.valid(sig, "a" * 32, 1001, 500, "image/png")
    assert not signer.valid(sig, "a" * 32, 1000, 501, "image/png")
    assert not signer.valid(sig, "a" * 32, 1000, 500, "image/jpeg")
    assert not UrlSigner(b"x" * 32).valid(sig, "a" * 32, 1000, 500, "image/png")
    with pytest.raises(ValueError, match="32 bytes"):
        UrlSigner(b"short")


def test_sizes_and_thresholds_are_validated() -> None:
    assert parse_sizes("64x64, 128x96") == ((64, 64), (128, 96))
    with pytest.raises(ValueError, match="not a size"):
        parse_sizes("64x64,huge")
    with pytest.raises(ValueError, match="review <= reject"):
        AvatarsSettings(thresholds='{"Explicit": {"reject": 0.2, "review": 0.5}}')
    with pytest.raises(ValueError, match="unknown formats"):
        AvatarsSettings(eager_formats="webp,bmp")
    settings = AvatarsSettings(variant_sizes="64x64", allowed_sizes="32x32")
    assert settings.allowed_size_set() == {(64, 64), (32, 32)}
