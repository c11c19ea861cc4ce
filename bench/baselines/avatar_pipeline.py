"""The avatar pipeline's intrinsic work with nothing around it, for bench/avatars.py: per image
the same libvips inspection (sniff, header check, decode with shrink-on-load, auto-orient,
sRGB, canonical WebP, pHash), the same model inference and the same eager variants, called in
a plain `multiprocessing.Pool` of the same size. No HTTP, bus, store or workflow."""

from __future__ import annotations

import os

# One libvips and one onnxruntime thread per process, as the service's pool runs them.
os.environ.setdefault("VIPS_CONCURRENCY", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def init(moderator: str) -> None:
    from services.avatars import cpu

    cpu._init_worker(moderator)


def work(
    path: str, limits: object, sizes: tuple[tuple[int, int], ...], formats: tuple[str, ...]
) -> int:
    from services.avatars.cpu import inspect_task, moderate_task, render_many_task

    inspected = inspect_task(path, limits)
    moderate_task(inspected.canonical)
    return len(render_many_task(inspected.canonical, sizes, formats))
