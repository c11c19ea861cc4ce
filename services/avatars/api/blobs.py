"""The embedded backend's upload URL: `PUT /avatars/blobs/{id}?expires=&sig=`, reached through
the gateway with no other credential (the signed URL is one, as an S3 presigned URL is).

Checked before a byte of the body is read: the signature (403, forged), the expiry (403,
expired), the signed Content-Type (403), a declared Content-Length over the limit (413), and
single use (403, replayed: the upload's claim). The body then streams to disk through the
sniffing `Scanner`, counted as it arrives: past the limit the 413 goes out at once, with the
rest of the body unread; a wrong type is a 415 as soon as the first bytes show it, data after
the image's end marker (an appended archive or script) a 415 at the end. A refused
or broken upload releases the claim, so the same URL can be tried again until it expires.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.avatars.api.uploads import mark_received
from services.avatars.blobs.base import incoming_key
from services.avatars.blobs.local import LocalBlobStore
from services.avatars.imaging.sniff import RefusedImageError, Scanner
from services.avatars.keys import CONTEXT, PROBLEMS
from shared.http.problems import Problem
from shared.storeops import claim

routes = web.RouteTableDef()
CHUNK = 256 * 1024
FORBIDDEN = PROBLEMS + "upload-url"


class TooLargeError(Exception):
    pass


def _refuse(detail: str) -> Problem:
    return Problem(403, detail, type_=FORBIDDEN)


@routes.put("/avatars/blobs/{id}")
async def upload(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    store = ctx.blobs
    if not isinstance(store, LocalBlobStore):
        raise Problem(404, "uploads go to the object store's presigned URL")
    upload_id = request.match_info["id"]
    try:
        expires = int(request.query.get("expires", ""))
    except ValueError:
        raise _refuse("the upload URL is not signed (expires, sig)") from None
    doc = await ctx.uploads.get(upload_id) if len(upload_id) == 32 else None
    signature = request.query.get("sig", "")
    if doc is None or not store.signer.valid(
        signature, upload_id, expires, doc["max_bytes"], doc["content_type"]
    ):
        raise _refuse("the upload URL's signature does not match")
    if ctx.clock().timestamp() > expires:
        raise _refuse("the upload URL has expired; ask for a new one")
    if request.headers.get("Content-Type", "").split(";")[0].strip() != doc["content_type"]:
        raise _refuse(f"send Content-Type: {doc['content_type']}, as the URL was signed for")
    limit = int(doc["max_bytes"])
    if request.content_length is not None and request.content_length > limit:
        raise Problem(413, f"an avatar is at most {limit} bytes")
    claims = ctx.db["avatar_claims"]
    if doc["state"] != "pending" or not await claim(
        claims, f"ticket:{upload_id}", {"at": ctx.clock()}
    ):
        raise _refuse("the upload URL was already used")
    # Type and end structure here (a 415 as soon as the first bytes show a wrong type); the
    # content scan for polyglots runs in the inspect step, off the event loop.
    scanner = Scanner(declared=doc["content_type"], deep=False)

    async def body() -> AsyncIterator[bytes]:
        async for chunk in request.content.iter_chunked(CHUNK):
            if scanner.size + len(chunk) > limit:
                raise TooLargeError
            scanner.feed(chunk)
            yield chunk
        scanner.finish()

    try:
        size = await store.receive(incoming_key(upload_id), body())
    except TooLargeError:
        await claims.delete_one({"_id": f"ticket:{upload_id}"})
        raise Problem(413, f"an avatar is at most {limit} bytes") from None
    except RefusedImageError as refused:
        await claims.delete_one({"_id": f"ticket:{upload_id}"})
        raise Problem(415, refused.reason, type_=PROBLEMS + "unsupported-type") from None
    except BaseException:
        await claims.delete_one({"_id": f"ticket:{upload_id}"})
        raise
    if size == 0:
        await claims.delete_one({"_id": f"ticket:{upload_id}"})
        raise Problem(400, "the body is empty")
    doc = await mark_received(ctx, doc, size)
    return web.json_response(
        {
            "id": upload_id,
            "state": doc["state"],
            "size": size,
            "status_url": f"/avatars/uploads/{upload_id}",
        }
    )
