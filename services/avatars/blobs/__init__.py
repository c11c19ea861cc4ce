"""Where avatar bytes live: a `BlobStore` with the embedded directory backend (`local`) and
S3-compatible object storage (`s3`: MinIO, AWS S3)."""

from services.avatars.blobs.base import BlobStore, UploadTicket, open_blob_store

__all__ = ["BlobStore", "UploadTicket", "open_blob_store"]
