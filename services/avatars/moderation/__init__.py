"""Moderation: the `Moderator` interface, per-label thresholds, the perceptual-hash blocklist."""
