"""Object storage: plates read from, and shot outputs written to, S3 or an S3-compatible
server (MinIO, a loopback test server), through boto3's managed transfers.

Plates. A plate given as an ``s3://`` URL is downloaded into a local cache,
``<home>/cache/s3/<bucket>/<key>``, and read from there like any local plate. The URL names:

- one object: a movie file (``s3://stage/shots/dog.mp4``);
- a folder (a prefix): ``s3://stage/shots/dog/`` or ``s3://stage/shots/dog``; every object directly
  under it is downloaded (not those in deeper "sub-folders");
- a sequence pattern: ``s3://stage/shots/sh010.####.exr`` or ``sh010.%04d.exr``; the numbered
  objects beside it that match;
- one member of a sequence: ``s3://stage/shots/sh010.1001.exr``; its numbered siblings too.

Each object is downloaded to a temporary name and renamed, so a half-downloaded frame never looks
finished; its size and ETag are kept beside the cache (``<cache>/.etags/<bucket>/<key>.json``) and an
object whose size and ETag have not changed is not downloaded again. A cached file's modification
time is the object's ``LastModified``, so that a cache emptied and filled again gives the plate the
same fingerprint (:func:`rotoflow.plate.plate_fingerprint`) and the shot's finished stages
are reused. Files of a cached folder whose objects have gone from the bucket are removed.

Outputs. :meth:`S3Store.upload_file` sends one file (in parts at or above the multipart
threshold); when a part fails, boto3's transfer manager (s3transfer) aborts the multipart upload,
so no object and no upload in progress is left (the tests check both). A process killed mid-upload
cannot abort: give the bucket a lifecycle rule that aborts incomplete multipart uploads after a
day. How a shot's outputs are published, with a marker written last, is
:mod:`rotoflow.publication`.

Credentials and region come from boto3's usual chain (``AWS_ACCESS_KEY_ID``, ``AWS_PROFILE``,
``AWS_DEFAULT_REGION``, ...). Every failure is a :class:`~rotoflow.errors.StorageError` whose message
names the URL; connection failures, timeouts and server errors are
:class:`~rotoflow.errors.StorageUnavailable` (worth a retry).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rotoflow.errors import ConfigError, StorageError, StorageUnavailable
from rotoflow.plate import plate_signature as local_plate_signature
from rotoflow.s3url import S3Url, is_s3_url, parse_url
from rotoflow.workspace import fingerprint

log = logging.getLogger(__name__)

MiB = 1 << 20
#: Smallest part S3 accepts in a multipart upload (all but the last part).
MIN_PART_SIZE = 5 * MiB

_FIELD = re.compile(r"%0?\d*d|#+|@+")  # frame number field of a sequence pattern
_NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<digits>\d+)(?P<suffix>\D*)$")
_IMAGE_SUFFIXES = (".exr", ".dpx", ".tif", ".tiff", ".png", ".jpg", ".jpeg")
_UNAVAILABLE_CODES = {"SlowDown", "RequestTimeout", "Throttling", "ThrottlingException"}
_DENIED_CODES = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
}


@dataclass(frozen=True)
class ObjectInfo:
    """One object as a listing describes it.

    Attributes:
        key: Object key.
        size: Size in bytes.
        etag: Entity tag as S3 returns it, quotes included (``"<md5>"``, or ``"<hash>-<parts>"``
            for a multipart upload).
        last_modified: Time of the object's last write (UTC).
    """

    key: str
    size: int
    etag: str
    last_modified: datetime

    @property
    def name(self) -> str:
        return self.key.rpartition("/")[2]


@dataclass(frozen=True)
class _Plate:
    """The objects of a plate in the bucket, its local path in the cache, and (for a folder or a
    sequence) which file names in its cached folder belong to it."""

    objects: list[ObjectInfo]
    local: Path
    belongs: Callable[[str], bool] | None


class S3Store:
    """An S3 bucket service reached through one boto3 client (thread-safe; shared by the transfer
    threads).

    Args:
        endpoint_url: S3-compatible endpoint (``http://127.0.0.1:9000``), None for AWS S3. With an
            endpoint, path-style addressing is used and checksums are sent only where S3 requires
            them (what MinIO and other servers accept).
        multipart_threshold: Files of at least this many bytes are uploaded and downloaded in parts.
        multipart_chunksize: Size of each part in bytes (at least 5 MiB, S3's minimum).
        max_concurrency: Threads transferring the parts of one file.
        workers: Files transferred at once.
        max_attempts: Attempts per request, the first included, before a connection failure,
            timeout, throttling or server error is raised (boto3's standard retry mode, with
            exponential backoff).

    Attributes:
        client: The boto3 S3 client (tests register botocore event hooks on it).

    Raises:
        ConfigError: A part size below 5 MiB, a threshold below the part size, or fewer than one
            thread.
    """

    def __init__(
        self,
        endpoint_url: str | None = None,
        *,
        multipart_threshold: int = 64 * MiB,
        multipart_chunksize: int = 16 * MiB,
        max_concurrency: int = 4,
        workers: int = 8,
        max_attempts: int = 5,
    ) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        if multipart_chunksize < MIN_PART_SIZE:
            raise ConfigError(f"multipart chunk size {multipart_chunksize} is below S3's 5 MiB")
        if multipart_threshold < multipart_chunksize:
            raise ConfigError(
                f"multipart threshold {multipart_threshold} is below the chunk size "
                f"{multipart_chunksize}"
            )
        if max_concurrency < 1 or workers < 1:
            raise ConfigError(
                f"max_concurrency {max_concurrency} and workers {workers} must be >= 1"
            )
        options: dict[str, Any] = {
            "retries": {"mode": "standard", "max_attempts": max_attempts},
            "connect_timeout": 10,
            "read_timeout": 120,
            "max_pool_connections": max(10, workers * max_concurrency),
        }
        if endpoint_url:
            options["s3"] = {"addressing_style": "path"}
            options["request_checksum_calculation"] = "when_required"
            options["response_checksum_validation"] = "when_required"
        self.endpoint_url = endpoint_url
        self.client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, config=Config(**options)
        )
        self.transfer = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize,
            max_concurrency=max_concurrency,
        )
        self.workers = workers

    # -- listing -----------------------------------------------------------------------------

    def listing(
        self, url: S3Url, *, prefix: str | None = None
    ) -> tuple[list[ObjectInfo], list[str]]:
        """Objects directly under a prefix (``/`` is the folder separator).

        Args:
            url: Bucket (and, when ``prefix`` is None, the prefix as ``url.folder_prefix()``).
            prefix: Exact listing prefix instead (``"shots/dog"`` also lists ``shots/dog.mp4``).

        Returns:
            ``(objects, sub-prefixes)``; sub-prefixes end with ``/``.

        Raises:
            StorageError: No such bucket, access denied, no credentials.
            StorageUnavailable: The server cannot be reached or fails.
        """
        prefix = url.folder_prefix() if prefix is None else prefix
        objects: list[ObjectInfo] = []
        folders: list[str] = []
        with self._errors(url):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=url.bucket, Prefix=prefix, Delimiter="/"
            )
            for page in pages:
                folders += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
                objects += [
                    ObjectInfo(o["Key"], int(o["Size"]), o["ETag"], o["LastModified"])
                    for o in page.get("Contents", [])
                    if not o["Key"].endswith("/")  # "folder" placeholder objects
                ]
        return objects, folders

    # -- plates ------------------------------------------------------------------------------

    def fetch_plate(self, text: str, cache_root: Path) -> Path:
        """Download a plate named by an ``s3://`` URL into the local cache (see the module notes).

        Args:
            text: ``s3://`` URL of a movie, a folder, a sequence pattern or one sequence member.
            cache_root: Cache folder, ``<home>/cache/s3``; the plate goes to
                ``<cache_root>/<bucket>/<key>``.

        Returns:
            The local plate path to open: the movie file, the folder, the pattern or the member.

        Raises:
            StorageError: A bad URL; no such bucket; no object or prefix at the URL (or no numbered
                object matching a pattern or member); access denied; no credentials.
            StorageUnavailable: The server cannot be reached or fails (after boto3's retries).
            OSError: The cache folder cannot be written.
        """
        url = parse_url(text)
        plate = self.select_plate(url, cache_root)
        fresh = [o for o in plate.objects if not _cached(o, url.bucket, cache_root)]
        log.info("%s: %d objects, %d to download", url, len(plate.objects), len(fresh))
        self.parallel(lambda o: self._download(url.bucket, o, cache_root), fresh)
        if plate.belongs is not None:  # a folder or sequence: drop what the bucket no longer has
            listed = {o.name for o in plate.objects}
            folder = cache_root / url.bucket / plate.objects[0].key.rpartition("/")[0]
            for entry in folder.iterdir():
                if entry.is_file() and plate.belongs(entry.name) and entry.name not in listed:
                    entry.unlink()
                    key = "/".join(entry.relative_to(cache_root).parts[1:])
                    _etag_path(cache_root, url.bucket, key).unlink(missing_ok=True)
        return plate.local

    def select_plate(self, url: S3Url, cache_root: Path) -> _Plate:
        """The objects of the plate at ``url``, its local path and which cached names are its."""
        local = cache_root / url.bucket / url.key.rstrip("/")
        name = url.name
        field = _FIELD.search(name)
        if field:  # a sequence pattern: the numbered objects beside it that match
            belongs = _numbered(name[: field.start()], name[field.end() :])
            objects = [o for o in self.listing(url.parent)[0] if belongs(o.name)]
            if not objects:
                raise StorageError(f"{url}: no object beside it matches the pattern")
            return _Plate(objects, local, belongs)
        if url.key and not url.key.endswith("/"):
            found, folders = self.listing(url, prefix=url.key)
            if any(o.key == url.key for o in found):
                m = _NUMBERED.match(name)
                if m and Path(name).suffix.lower() in _IMAGE_SUFFIXES:
                    # one member of a sequence: its numbered siblings too
                    belongs = _numbered(m["prefix"], m["suffix"])
                    objects = [o for o in self.listing(url.parent)[0] if belongs(o.name)]
                    return _Plate(objects, local, belongs)
                return _Plate([o for o in found if o.key == url.key], local, None)
            if f"{url.key}/" not in folders:
                raise StorageError(f"{url}: no such object or prefix")
        objects = self.listing(url)[0]
        if not objects:
            raise StorageError(f"{url}: no objects directly under this prefix")
        return _Plate(objects, local, lambda entry: not entry.startswith("."))

    def _download(self, bucket: str, obj: ObjectInfo, cache_root: Path) -> None:
        stamp = int(obj.last_modified.timestamp() * 1e9)
        self.download_file(S3Url(bucket, obj.key), cache_root / bucket / obj.key, mtime_ns=stamp)
        sidecar = _etag_path(cache_root, bucket, obj.key)
        sidecar.parent.mkdir(parents=True, exist_ok=True)
        tmp_sidecar = sidecar.with_name(f".{sidecar.name}.part-{os.getpid()}-{os.urandom(3).hex()}")
        tmp_sidecar.write_text(json.dumps({"etag": obj.etag, "size": obj.size}))
        os.replace(tmp_sidecar, sidecar)

    # -- outputs -----------------------------------------------------------------------------

    def upload_file(self, path: Path, url: S3Url, *, sha256: str | None = None) -> None:
        """Upload one file (in parts at or above the multipart threshold).

        Args:
            path: Local file.
            url: Destination object.
            sha256: Hex sha256 of the file, stored as the object's ``sha256`` metadata.

        Raises:
            StorageError: No such bucket, access denied, no credentials. A failed multipart upload
                is aborted by the transfer manager before this is raised.
            StorageUnavailable: The server cannot be reached or fails (after boto3's retries).
            OSError: The file cannot be read.
        """
        extra = {"Metadata": {"sha256": sha256}} if sha256 else None
        with self._errors(url):
            self.client.upload_file(
                str(path), url.bucket, url.key, ExtraArgs=extra, Config=self.transfer
            )

    def download_file(self, url: S3Url, path: Path, *, mtime_ns: int | None = None) -> None:
        """Download one object to ``path``: written under a temporary name, then renamed, so a
        half-downloaded file never looks finished; the folder is created.

        Args:
            url: The object.
            path: Local destination (replaced when it exists).
            mtime_ns: Modification time to give the file, in ns since the epoch (default: now).

        Raises:
            StorageError: No such bucket or object, access denied, no credentials.
            StorageUnavailable: The server cannot be reached or fails (after boto3's retries).
            OSError: ``path`` cannot be written.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.part-{os.getpid()}-{os.urandom(3).hex()}")
        try:
            with self._errors(url):
                self.client.download_file(url.bucket, url.key, str(tmp), Config=self.transfer)
            if mtime_ns is not None:
                os.utime(tmp, ns=(mtime_ns, mtime_ns))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def read_bytes(self, url: S3Url) -> bytes | None:
        """A small object's content, or None when there is no such object.

        Raises:
            StorageError: No such bucket, access denied, no credentials.
            StorageUnavailable: The server cannot be reached or fails.
        """
        try:
            with self._errors(url):
                return self.client.get_object(Bucket=url.bucket, Key=url.key)["Body"].read()
        except StorageError as exc:
            code = getattr(exc.__cause__, "response", {}).get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404"):
                return None
            raise

    def write_bytes(self, url: S3Url, body: bytes, content_type: str) -> None:
        """Write a small object in one request (atomic: readers see the old or the new content).

        Raises:
            StorageError: No such bucket, access denied, no credentials.
            StorageUnavailable: The server cannot be reached or fails.
        """
        with self._errors(url):
            self.client.put_object(
                Bucket=url.bucket, Key=url.key, Body=body, ContentType=content_type
            )

    def delete(self, url: S3Url) -> None:
        """Delete one object (nothing happens when it does not exist).

        Raises:
            StorageError: No such bucket, access denied, no credentials.
            StorageUnavailable: The server cannot be reached or fails.
        """
        with self._errors(url):
            self.client.delete_object(Bucket=url.bucket, Key=url.key)

    def objects_under(self, url: S3Url) -> Iterator[ObjectInfo]:
        """Every object under the prefix ``url``, at all depths.

        Raises:
            StorageError: No such bucket, access denied, no credentials.
            StorageUnavailable: The server cannot be reached or fails.
        """
        with self._errors(url):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=url.bucket, Prefix=url.folder_prefix()
            )
            for page in pages:
                for o in page.get("Contents", []):
                    yield ObjectInfo(o["Key"], int(o["Size"]), o["ETag"], o["LastModified"])

    def delete_keys(self, bucket: str, keys: list[str]) -> None:
        """Delete objects of one bucket, 1000 per request (S3's most).

        Raises:
            StorageError: A key could not be deleted; no such bucket, access denied.
            StorageUnavailable: The server cannot be reached or fails.
        """
        for i in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            batch = keys[i : i + 1000]
            with self._errors(S3Url(bucket, batch[0])):
                answer = self.client.delete_objects(
                    Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
                )
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise StorageError(
                    f"s3://{bucket}/{first['Key']}: cannot delete ({first.get('Code')}: "
                    f"{first.get('Message')})"
                )
        if keys:
            log.info("deleted %d stale objects from s3://%s", len(keys), bucket)

    # -- helpers -----------------------------------------------------------------------------

    def parallel(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """``fn`` over ``items`` on :attr:`workers` threads; the first failure cancels the files
        not started, waits for those running and is raised."""
        items = list(items)
        if len(items) <= 1 or self.workers == 1:
            return [fn(i) for i in items]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            futures = [pool.submit(fn, i) for i in items]
            try:
                for f in as_completed(futures):
                    f.result()
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
            return [f.result() for f in futures]

    @contextmanager
    def _errors(self, url: S3Url) -> Iterator[None]:
        """Turn botocore's and boto3's errors into :class:`StorageError` naming ``url``."""
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            HTTPClientError,
            NoCredentialsError,
            PartialCredentialsError,
        )
        from botocore.exceptions import ConnectionError as BotoConnectionError

        try:
            yield
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise StorageError(
                f"{url}: no AWS credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(or AWS_PROFILE)"
            ) from exc
        except S3UploadFailedError as exc:  # boto3 wraps the ClientError of a failed upload
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, ClientError):
                raise _client_error(url, cause) from cause
            raise StorageError(f"{url}: {exc}") from exc
        except ClientError as exc:
            raise _client_error(url, exc) from exc
        except (BotoConnectionError, HTTPClientError) as exc:  # refused, reset, timed out
            where = self.endpoint_url or "AWS S3"
            raise StorageUnavailable(f"{url}: cannot reach {where} ({exc})") from exc
        except BotoCoreError as exc:
            raise StorageError(f"{url}: {exc}") from exc


def _client_error(url: S3Url, exc) -> StorageError:
    """The :class:`StorageError` of an error answer from the server."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code == "NoSuchBucket":
        return StorageError(f"{url}: no such bucket {url.bucket!r}")
    if code in ("NoSuchKey", "404", "NotFound") or status == 404:
        return StorageError(f"{url}: no such object")
    if code in _DENIED_CODES or status == 403:
        return StorageError(
            f"{url}: access denied ({code or status}); check the AWS credentials and the bucket's "
            "policy"
        )
    if status >= 500 or code in _UNAVAILABLE_CODES:
        return StorageUnavailable(f"{url}: server error {code or status}: {error.get('Message')}")
    return StorageError(f"{url}: {code or status}: {error.get('Message', exc)}")


def _numbered(prefix: str, suffix: str) -> Callable[[str], bool]:
    """Whether a name is ``<prefix><digits><suffix>``."""
    regex = re.compile(re.escape(prefix) + r"\d+" + re.escape(suffix) + "$")
    return lambda name: regex.match(name) is not None


def _etag_path(cache_root: Path, bucket: str, key: str) -> Path:
    """Where the size and ETag of a cached object are kept (bucket names never start with ``.``)."""
    return cache_root / ".etags" / bucket / f"{key}.json"


def _cached(obj: ObjectInfo, bucket: str, cache_root: Path) -> bool:
    """Whether the cache holds ``obj`` as listed: same size and ETag as when downloaded."""
    local = cache_root / bucket / obj.key
    try:
        known = json.loads(_etag_path(cache_root, bucket, obj.key).read_text())
        return (
            local.stat().st_size == obj.size
            and known.get("etag") == obj.etag
            and known.get("size") == obj.size
        )
    except (OSError, ValueError):
        return False


def store_from_settings(settings, **options) -> S3Store:
    """An :class:`S3Store` on the settings' ``s3_endpoint_url`` (``options`` go to the store)."""
    return S3Store(settings.s3_endpoint_url, **options)


def cache_root(settings) -> Path:
    """The plate cache folder, ``<home>/cache/s3``."""
    return Path(settings.home) / "cache" / "s3"


def plate_signature(plate: str, settings) -> str:
    """The plate's signature, for telling whether it changed since a job ran on it.

    A local plate gets :func:`rotoflow.plate.plate_signature` (its files' names, sizes and
    modification times); a plate in object storage (``s3://``) a hex sha256 of its objects' keys,
    sizes and ETags, read from a listing on the settings' endpoint (nothing is downloaded), so
    adding, removing or rewriting an object changes it.

    Raises:
        StorageError: A bad URL, no such bucket or object, access denied, no credentials.
        StorageUnavailable: The server cannot be reached or fails.
    """
    if not is_s3_url(plate):
        return local_plate_signature(plate)
    store = store_from_settings(settings)
    objects = store.select_plate(parse_url(plate), cache_root(settings)).objects
    return fingerprint("s3-plate", sorted((o.key, o.size, o.etag) for o in objects))
