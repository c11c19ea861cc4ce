"""A bare aiohttp + pyvips resize handler, the ceiling bench/avatars.py compares the avatars
media endpoint with: `GET /media/{key}/{w}x{h}.{ext}` reads `<root>/<key>/<w>x<h>.<ext>` when it
exists (hit), else renders it from `<root>/<key>/canonical.webp` exactly as the service does
(the same `render` function, in the loop's default thread pool: libvips releases the GIL),
writes it and answers (miss). No allow-list, ETag, cache headers, store or single flight.

    python bench/baselines/avatar_resize.py <port> <root>
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

os.environ.setdefault("VIPS_CONCURRENCY", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from aiohttp import web

from services.avatars.imaging.variants import CONTENT_TYPES, FORMAT_OF_EXTENSION, render

ROOT = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(".")


async def media(request: web.Request) -> web.Response:
    key, name = request.match_info["key"], request.match_info["name"]
    size, ext = name.rsplit(".", 1)
    width, height = (int(v) for v in size.split("x"))
    fmt = FORMAT_OF_EXTENSION[ext]
    target = ROOT / key / name
    loop = asyncio.get_running_loop()
    try:
        data = await loop.run_in_executor(None, target.read_bytes)
    except FileNotFoundError:
        canonical = await loop.run_in_executor(None, (ROOT / key / "canonical.webp").read_bytes)
        data = await loop.run_in_executor(None, render, canonical, width, height, fmt)
        await loop.run_in_executor(None, target.write_bytes, data)
    return web.Response(body=data, content_type=CONTENT_TYPES[fmt])


def main() -> None:
    import uvloop

    app = web.Application()
    app.router.add_get("/media/{key}/{name}", media)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
