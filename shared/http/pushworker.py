"""The Web Push service worker every page that subscribes to pushes serves from its own path
(a worker controls only the scope under the path it was served from): the notifier's push page
and the avatar page. It shows a pushed message and opens its (same-site) link when clicked."""

from __future__ import annotations

from pathlib import Path

SERVICE_WORKER = (Path(__file__).resolve().parent / "static" / "push-worker.js").read_bytes()
