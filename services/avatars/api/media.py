"""`GET /media/avatars/{user}/{version}/{w}x{h}.{ext}` (public, through the gateway's /media/).

- `{w}x{h}` must be on the allow-list (AVATARS_ALLOWED_SIZES plus the eager sizes): 400
  otherwise, so nobody can make the service render arbitrary sizes.
- `.jpg` picks the best format the client accepts (`Accept`: AVIF, then WebP, else JPEG) and
  answers `Vary: Accept`; `.webp` and `.avif` ask for that format.
- Versioned URLs never change: strong `ETag`, `Cache-Control: public, max-age=31536000,
  immutable`, 304 on a matching `If-None-Match`. A rejected or replaced version is 404.
"""

from __future__ import annotations

import re

from aiohttp import web

from services.avatars.imaging.variants import CONTENT_TYPES
from services.avatars.keys import CONTEXT, PROBLEMS
from services.avatars.settings import SIZE
from shared.http.problems import Problem

routes = web.RouteTableDef()
IMMUTABLE = "public, max-age=31536000, immutable"
VERSION = re.compile(r"^[a-f0-9]{32}$")
EXPLICIT = {"webp": "webp", "avif": "avif", "jpeg": "jpeg"}


def negotiate(accept: str) -> str:
    """AVIF, then WebP, when the client lists them (browsers do); JPEG for everyone else."""
    offered = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    if "image/avif" in offered:
        return "avif"
    if "image/webp" in offered:
        return "webp"
    return "jpeg"


@routes.get("/media/avatars/{user}/{version}/{name}")
async def media(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    user, version, name = (request.match_info[k] for k in ("user", "version", "name"))
    size, _, ext = name.rpartition(".")
    match = SIZE.fullmatch(size)
    if match is None or ext not in ("jpg", "webp", "avif"):
        raise Problem(404, "no such image", type_=PROBLEMS + "no-image")
    width, height = int(match.group(1)), int(match.group(2))
    if (width, height) not in ctx.media.allowed:
        allowed = ", ".join(f"{w}x{h}" for w, h in sorted(ctx.media.allowed))
        raise Problem(400, f"{size} is not an allowed size ({allowed})", type_=PROBLEMS + "size")
    if not VERSION.fullmatch(version) or not await ctx.media.published(user, version):
        raise Problem(404, "no such avatar version", type_=PROBLEMS + "no-image")
    negotiated = ext == "jpg"
    fmt = negotiate(request.headers.get("Accept", "")) if negotiated else EXPLICIT[ext]
    try:
        variant = await ctx.media.variant(user, version, width, height, fmt)
    except LookupError:
        raise Problem(404, "no such avatar version", type_=PROBLEMS + "no-image") from None
    headers = {"ETag": variant.etag, "Cache-Control": IMMUTABLE, "X-Avatar-Source": variant.source}
    if negotiated:
        headers["Vary"] = "Accept"
    inm = request.headers.get("If-None-Match", "")
    if variant.etag in {tag.strip() for tag in inm.split(",")} or inm.strip() == "*":
        return web.Response(status=304, headers=headers)
    return web.Response(body=variant.data, content_type=CONTENT_TYPES[fmt], headers=headers)
