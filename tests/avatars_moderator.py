"""Moderators for the avatar tests (built in the CPU pool's workers from AVATARS_MODERATOR).

`ColourModerator` labels by the image's mean colour: red is explicit (reject), yellow is
borderline (review), anything else is clean. `StallOnceModerator` hangs on its first call (it
leaves the file named in AVATARS_TEST_STALL_FILE) and behaves like `ColourModerator` after:
the kill and timeout tests stop a worker in the middle of a step with it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyvips

from services.avatars.moderation.base import Label

STALL_FILE = "AVATARS_TEST_STALL_FILE"


class ColourModerator:
    name = "colour"

    def labels(self, image: pyvips.Image) -> list[Label]:
        red, green, blue = (image.extract_band(i).avg() for i in range(3))
        if red > 200 and green < 80 and blue < 80:
            return [Label("Explicit", 0.97), Label("Violence", 0.1)]
        if red > 200 and green > 200 and blue < 80:
            return [Label("Explicit", 0.6)]
        return [Label("Explicit", 0.02)]


class StallOnceModerator(ColourModerator):
    def labels(self, image: pyvips.Image) -> list[Label]:
        marker = Path(os.environ[STALL_FILE])
        try:
            marker.touch(exist_ok=False)
        except FileExistsError:
            return super().labels(image)
        time.sleep(600)  # killed (or timed out) long before
        return []
