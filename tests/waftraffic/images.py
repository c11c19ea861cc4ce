"""Real image files, made with libvips (pyvips), and the uploads that carry them.

Photo-like JPEGs with a phone's EXIF and an XMP packet, PNG screenshots and icons, WebP, GIF
and AVIF: the bytes browsers and apps upload. Compressed image data is as random as bytes get,
so over enough of it any text signature finds something to "match": these are the requests
that show a WAF reads binary bodies as text. Each image is made once per process.
"""

from __future__ import annotations

import random
import uuid
from functools import cache
from urllib.parse import urlencode

import pyvips

from services.gateway.waf.view import RequestView
from tests.avatars_images import flat, photo
from tests.waftraffic.common import USER_AGENTS, browser_headers, token

FORMATS = {
    "jpeg": ("image/jpeg", ".jpg"),
    "png": ("image/png", ".png"),
    "webp": ("image/webp", ".webp"),
    "gif": ("image/gif", ".gif"),
    "avif": ("image/avif", ".avif"),
}
SIZES = ((96, 96), (320, 240), (640, 480))
# GIF and AVIF encoders are slow (seconds for a 640x480 AVIF): their files stay smaller.
_SIZES_OF = {"gif": 2, "avif": 1}
SEEDS = 2
_XMP = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="Adobe Photoshop 25.3 (Macintosh)"'
    ' xmp:CreateDate="2024-01-05T10:12:01+01:00"/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)


@cache
def image(fmt: str, size: int, seed: int) -> bytes:
    """A `fmt` image of the `size`-th size: a photo with camera metadata (JPEG, WebP, AVIF)
    or a flat graphic (PNG, GIF, as screenshots and icons are)."""
    width, height = SIZES[size]
    if fmt in ("png", "gif"):
        colour = (seed * 53 % 256, seed * 101 % 256, seed * 197 % 256)
        graphic = pyvips.Image.new_from_buffer(flat(colour, side=width, fmt=".png"), "")
        # Detail on the flat colour (a photo inset), so the encoder has real data to squeeze.
        inset = photo(width // 2, width // 2, seed).copy(interpretation="srgb")
        data: bytes = graphic.insert(inset, width // 4, width // 4).write_to_buffer(FORMATS[fmt][1])
        return data
    picture = photo(width, height, seed)
    picture.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Make", "Apple")
    picture.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Model", "iPhone 14 Pro")
    picture.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Software", "17.2.1")
    picture.set_type(pyvips.GValue.gstr_type, "exif-ifd2-DateTimeOriginal", "2024:01:05 10:12:01")
    picture.set_type(pyvips.GValue.blob_type, "xmp-data", _XMP.encode())
    saved: bytes = picture.write_to_buffer(FORMATS[fmt][1], keep="all")
    return saved


def any_image(rng: random.Random) -> tuple[str, bytes]:
    """(media type, bytes) of one of the generated images."""
    fmt = rng.choice(tuple(FORMATS))
    size = rng.randrange(_SIZES_OF.get(fmt, len(SIZES)))
    return FORMATS[fmt][0], image(fmt, size, rng.randrange(SEEDS))


def presigned_query(rng: random.Random) -> str:
    """An S3-style presigned upload URL's query: dates, expiries, credentials, a signature."""
    return urlencode(
        {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": f"AKIA{rng.randbytes(8).hex().upper()}/20240105/eu-west-1/s3"
            "/aws4_request",
            "X-Amz-Date": "20240105T101201Z",
            "X-Amz-Expires": rng.choice((300, 900, 3600, 604800)),
            "X-Amz-SignedHeaders": "content-type;host",
            "X-Amz-Signature": rng.randbytes(32).hex(),
        }
    )


def raw_upload(rng: random.Random) -> RequestView:
    """An image PUT (or POSTed) as the body itself, as apps and presigned URLs upload."""
    media_type, data = any_image(rng)
    if rng.random() < 0.2:
        media_type = "application/octet-stream"
    target = rng.choice(
        (
            f"/api/v1/me/avatar?width=512&height=512&ts={rng.randrange(10**12, 10**13)}",
            f"/uploads/{uuid.UUID(int=rng.getrandbits(128))}?{presigned_query(rng)}",
            f"/avatars/blobs/{rng.randbytes(16).hex()}?"
            + urlencode(
                {"expires": rng.randrange(1_700_000_000, 1_800_000_000), "sig": token(rng, 32)}
            ),
            f"/api/v1/products/{rng.randrange(10**6)}/images?position={rng.randrange(8)}",
        )
    )
    headers = [
        ("Host", "api.example.com"),
        ("User-Agent", rng.choice(USER_AGENTS)),
        ("Accept", "application/json"),
        ("Content-Type", media_type),
        ("Content-Length", str(len(data))),
    ]
    return RequestView(rng.choice(("PUT", "PUT", "POST")), target, tuple(headers), data)


def multipart_image(rng: random.Random) -> RequestView:
    """A form upload of an image: browsers type the file part; curl types it by extension;
    HTTP libraries (python-requests, many SDKs) send it with no Content-Type at all."""
    media_type, data = any_image(rng)
    extension = next(ext for kind, ext in FORMATS.values() if kind == media_type)
    boundary = rng.choice(
        (
            f"----WebKitFormBoundary{token(rng, 12)}",
            rng.randbytes(16).hex(),
            f"------------------------{rng.randbytes(8).hex()}",
        )
    )
    name = rng.choice(("IMG_4032", "photo (2)", "Screenshot 2024-01-05 at 10.12.01", "avatar"))
    part_type = rng.choice(
        (f"Content-Type: {media_type}\r\n", "Content-Type: application/octet-stream\r\n", "")
    )
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\n'
            f"Me at the show\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{name}{extension}"\r\n{part_type}\r\n'
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = [
        *browser_headers(rng, "application/json"),
        ("Content-Type", f"multipart/form-data; boundary={boundary}"),
        ("Content-Length", str(len(body))),
    ]
    return RequestView("POST", "/api/v1/me/photos", tuple(headers), body)
