"""``s3://bucket/key`` locations: parsing and joining, with no client (importing this module does
not import boto3)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rotoflow.errors import StorageError

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class S3Url:
    """An ``s3://bucket/key`` location.

    Attributes:
        bucket: Bucket name.
        key: Object key or prefix, without a leading ``/``; ``""`` is the bucket's root. A prefix
            may end with ``/``.
    """

    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def name(self) -> str:
        """Last component of the key (``"dog.mp4"``), ``""`` for the bucket's root."""
        return self.key.rstrip("/").rpartition("/")[2]

    @property
    def parent(self) -> S3Url:
        """The prefix holding this key (``s3://b/shots/dog.mp4`` -> ``s3://b/shots``)."""
        return S3Url(self.bucket, self.key.rstrip("/").rpartition("/")[0])

    def join(self, rel: str) -> S3Url:
        """This prefix with a relative path below it: ``s3://b/out`` + ``dog/masks/x.png``."""
        return S3Url(self.bucket, "/".join(p for p in (self.key.strip("/"), rel.strip("/")) if p))

    def folder_prefix(self) -> str:
        """The key as a listing prefix: ``"shots/dog/"``, or ``""`` for the bucket's root."""
        key = self.key.rstrip("/")
        return f"{key}/" if key else ""


def is_s3_url(text: object) -> bool:
    """Whether ``text`` is a string naming an ``s3://`` location (not checked further)."""
    return isinstance(text, str) and text[:5].lower() == "s3://"


def parse_url(text: str) -> S3Url:
    """Parse ``s3://bucket/key``.

    Args:
        text: The URL. The key may be empty (the bucket's root) or end with ``/`` (a prefix).

    Returns:
        The bucket and key.

    Raises:
        StorageError: Not an ``s3://`` URL, an invalid bucket name (3 to 63 lower-case letters,
            digits, dots and hyphens), or a key with empty, ``.`` or ``..`` components.
    """
    if not is_s3_url(text):
        raise StorageError(f"{text!r} is not an s3:// URL (expected s3://bucket/key)")
    bucket, _, key = text[5:].partition("/")
    if not _BUCKET.match(bucket):
        raise StorageError(
            f"{text}: {bucket!r} is not a bucket name (3 to 63 lower-case letters, digits, dots "
            "and hyphens)"
        )
    parts = key.rstrip("/").split("/") if key.rstrip("/") else []
    if any(p in ("", ".", "..") for p in parts):
        raise StorageError(f"{text}: the key has an empty, '.' or '..' component")
    return S3Url(bucket, key)
