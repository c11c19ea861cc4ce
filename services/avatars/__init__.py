"""Avatars: presigned uploads, a hardened image pipeline, ML moderation with a review queue,
eager and on-the-fly variants, results pushed to the player (docs/avatars.md)."""
