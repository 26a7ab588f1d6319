"""Publishing a shot's outputs to object storage so that nothing half-written looks finished.

A shot published under ``s3://bucket/prefix/<shot>/`` has the layout of the local shot folder
(:mod:`rotoflow.workspace`: ``masks/``, ``alpha/``, ``roto/``) and a marker,
``<shot>/.rotoflow/published.json`` (:data:`MARKER`), written last, that lists every file with its
key, size and sha256. Readers trust a shot's outputs only when its marker exists and lists them:

- :func:`publish_tree` (a whole run's outputs) deletes the marker first, uploads the files,
  deletes what an earlier publication left in the same top-level folders, and writes the marker;
  while the files are uploading, and after a failure, the shot has no marker.
- :func:`add_to_publication` (files added later, such as a re-export in another roto format) keeps
  the marker while it uploads files that are new to the publication (readers go on trusting the
  files it lists) and rewrites it, with the new files, last. When a file it lists is replaced, the
  marker is deleted first, as in :func:`publish_tree`.

A file whose sha256 and size the earlier marker lists, and whose object is still in the bucket
with that size, is not uploaded again: a shot re-run with other settings uploads only the frames
that changed.

Single objects are written atomically by S3 (a reader sees the old object or the new one), and a
failed multipart upload is aborted (:meth:`rotoflow.objectstore.S3Store.upload_file`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rotoflow.errors import StorageError
from rotoflow.objectstore import S3Store, S3Url
from rotoflow.types import OutputRecord
from rotoflow.workspace import sha256_file

log = logging.getLogger(__name__)

#: The marker object, relative to the shot prefix; written last.
MARKER = ".rotoflow/published.json"


def published(store: S3Store, dest: S3Url) -> dict | None:
    """The marker of the shot published under ``dest``: ``{"prefix", "published_at", "files":
    {relative path: {"key", "sha256", "size"}}}``, or None when it has none (never published,
    being published, or a publication that failed).

    Raises:
        StorageError: No such bucket, access denied, no credentials.
        StorageUnavailable: The server cannot be reached or fails.
    """
    body = store.read_bytes(dest.join(MARKER))
    return None if body is None else json.loads(body)


@dataclass
class _Plan:
    """What a publication uploads: each source's marker entry, and which sources are unchanged
    since the earlier publication (same sha256 and size in its marker, same size in the bucket)."""

    dest: S3Url
    entries: dict[str, dict]
    unchanged: set[str]
    listed: dict[str, int]  # key -> size of every object under the shot prefix

    @property
    def changed(self) -> list[str]:
        return sorted(set(self.entries) - self.unchanged)


def _plan(store: S3Store, sources: dict[str, Path], dest: S3Url, before: dict | None) -> _Plan:
    """Hash the sources (several at once) and list the shot prefix."""
    listed = {o.key: o.size for o in store.objects_under(dest)}

    def entry(rel: str) -> tuple[str, dict]:
        path = sources[rel]
        digest = sha256_file(path)
        return rel, {"key": dest.join(rel).key, "sha256": digest, "size": path.stat().st_size}

    entries = dict(store.parallel(entry, sorted(sources)))
    earlier = before["files"] if before else {}
    unchanged = {
        rel
        for rel, e in entries.items()
        if earlier.get(rel) == e and listed.get(e["key"]) == e["size"]
    }
    return _Plan(dest, entries, unchanged, listed)


def _upload(store: S3Store, sources: dict[str, Path], plan: _Plan) -> None:
    """Upload the plan's changed files, several at once."""

    def upload(rel: str) -> None:
        store.upload_file(sources[rel], plan.dest.join(rel), sha256=plan.entries[rel]["sha256"])

    store.parallel(upload, plan.changed)


def _write_marker(store: S3Store, dest: S3Url, files: dict[str, dict]) -> None:
    body = {
        "prefix": str(dest),
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": files,
    }
    store.write_bytes(
        dest.join(MARKER), json.dumps(body, indent=1, sort_keys=True).encode(), "application/json"
    )


def publish_tree(store: S3Store, sources: dict[str, Path], dest: S3Url) -> dict[str, str]:
    """Publish a shot's files under ``dest``, replacing any earlier publication (module notes).

    Objects left by an earlier publication under the same top-level folders (``masks/``, ...) and
    not part of this one are deleted before the marker is written.

    Args:
        store: The store to write to.
        sources: Relative path under ``dest`` (``"masks/dog/dog.00001.png"``) to local file.
        dest: The shot's prefix, ``s3://bucket/prefix/<shot>``.

    Returns:
        ``{relative path: s3:// URL}`` of every published file.

    Raises:
        StorageError: As :meth:`S3Store.upload_file`; nothing is left that a marker vouches for.
        StorageUnavailable: As :meth:`S3Store.upload_file`.
        OSError: A source file cannot be read.
    """
    before = published(store, dest)
    store.delete(dest.join(MARKER))
    plan = _plan(store, sources, dest, before)
    _upload(store, sources, plan)
    keep = {e["key"] for e in plan.entries.values()}
    tops = {f"{dest.join(rel.split('/')[0]).key}/" for rel in sources if "/" in rel}
    stale = [k for k in plan.listed if k not in keep and k.startswith(tuple(tops))]
    store.delete_keys(dest.bucket, sorted(stale))
    _write_marker(store, dest, plan.entries)
    log.info(
        "published %d files to %s (%d unchanged, not uploaded again)",
        len(plan.entries),
        dest,
        len(plan.unchanged),
    )
    return {rel: str(dest.join(rel)) for rel in sources}


def add_to_publication(store: S3Store, sources: dict[str, Path], dest: S3Url) -> dict[str, str]:
    """Add files to the shot published under ``dest`` (module notes); the files it already lists
    stay published.

    Args:
        store: The store to write to.
        sources: Relative path under ``dest`` (``"roto/dog.fxs"``) to local file.
        dest: The shot's prefix, ``s3://bucket/prefix/<shot>``.

    Returns:
        ``{relative path: s3:// URL}`` of the added files.

    Raises:
        StorageError: The shot has no marker (never published, or its last publication failed);
            as :meth:`S3Store.upload_file`.
        StorageUnavailable: As :meth:`S3Store.upload_file`.
        OSError: A source file cannot be read.
    """
    marker = published(store, dest)
    if marker is None:
        raise StorageError(f"{dest}: the shot has no finished publication to add files to")
    plan = _plan(store, sources, dest, marker)
    if set(plan.changed) & set(marker["files"]):  # a listed file is replaced
        store.delete(dest.join(MARKER))
    _upload(store, sources, plan)
    _write_marker(store, dest, {**marker["files"], **plan.entries})
    log.info("added %d files to the publication %s", len(plan.changed), dest)
    return {rel: str(dest.join(rel)) for rel in sources}


def fetch_published(store: S3Store, dest: S3Url, rel: str, path: Path) -> Path:
    """Download a file that the shot published under ``dest`` lists, checking its sha256.

    Args:
        store: The store to read from.
        dest: The shot's prefix.
        rel: The file's path relative to it (``"roto/dog.shapes.json"``).
        path: Local destination.

    Returns:
        ``path``.

    Raises:
        StorageError: The shot has no marker, the marker does not list ``rel``, or the object's
            bytes differ from the sha256 the marker lists; as :meth:`S3Store.download_file`.
        StorageUnavailable: As :meth:`S3Store.download_file`.
    """
    marker = published(store, dest)
    if marker is None:
        raise StorageError(f"{dest}: the shot has no finished publication")
    entry = marker["files"].get(rel)
    if entry is None:
        raise StorageError(f"{dest}: the publication has no {rel}")
    store.download_file(dest.join(rel), path)
    if sha256_file(path) != entry["sha256"]:
        path.unlink()
        raise StorageError(f"{dest.join(rel)}: its content differs from the published sha256")
    return path


def publish_shot(
    store: S3Store, sources: dict[str, Path], rows: list[OutputRecord], dest: S3Url
) -> list[OutputRecord]:
    """Publish a shot's exported outputs to object storage with the local layout.

    Args:
        store: The store to write to.
        sources: Path relative to the shot folder -> the local file holding its bytes (the export
            stage's :func:`tasks.stages.export.sources`).
        rows: The outputs, paths relative to the shot folder (the export stage's
            :meth:`~rotoflow.workspace.StageOutput.outputs`).
        dest: The shot's prefix, ``s3://bucket/prefix/<project>/<shot>``.

    Returns:
        The records, each with the file's ``s3://`` URL.

    Raises:
        StorageError: As :func:`publish_tree`.
        StorageUnavailable: As :func:`publish_tree`.
        OSError: A source file is missing or unreadable.
    """
    urls = publish_tree(store, {row.path: sources[row.path] for row in rows}, dest)
    return [dataclasses.replace(row, url=urls[row.path]) for row in rows]
