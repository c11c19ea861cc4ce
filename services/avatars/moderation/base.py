"""The `Moderator` interface and the decision per-label thresholds make from its labels.

A moderator looks at the canonical image and returns labels with confidences (0-1) in a
taxonomy like Amazon Rekognition's top level ("Explicit", "Non-Explicit Nudity", "Swimwear or
Underwear", "Violence", "Visually Disturbing", "Drugs & Tobacco", "Alcohol", "Rude Gestures",
"Gambling", "Hate Symbols"), as far as its model covers it. It runs in a CPU-pool worker, built
there once from AVATARS_MODERATOR: "opennsfw" (the default model) or "package.module:Factory".
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import pyvips

Decision = Literal["approved", "in_review", "rejected"]


@dataclass(frozen=True)
class Label:
    name: str
    confidence: float


class Moderator(Protocol):
    name: str

    def labels(self, image: pyvips.Image) -> list[Label]: ...


def load_moderator(spec: str) -> Moderator:
    if spec == "opennsfw":
        from services.avatars.moderation.opennsfw import OpenNsfwModerator

        return OpenNsfwModerator()
    module, _, factory = spec.partition(":")
    if not module or not factory:
        raise ValueError(f"AVATARS_MODERATOR={spec!r}: 'opennsfw' or 'package.module:Factory'")
    moderator: Moderator = getattr(importlib.import_module(module), factory)()
    return moderator


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reason: str


def decide(labels: Sequence[Label], thresholds: Mapping[str, tuple[float, float]]) -> Verdict:
    """Reject if any label reaches its reject threshold, hold for review if any reaches its
    review threshold, else approve. Thresholds are label -> (review, reject); "*" applies to
    labels not listed (no "*": unlisted labels never block)."""
    default = thresholds.get("*")
    review: list[str] = []
    for label in sorted(labels, key=lambda item: -item.confidence):
        pair = thresholds.get(label.name, default)
        if pair is None:
            continue
        at_review, at_reject = pair
        if label.confidence >= at_reject:
            return Verdict("rejected", f"{label.name} ({label.confidence:.2f} >= {at_reject})")
        if label.confidence >= at_review:
            review.append(f"{label.name} ({label.confidence:.2f} >= {at_review})")
    if review:
        return Verdict("in_review", "; ".join(review))
    return Verdict("approved", "")
