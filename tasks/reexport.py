"""Re-exporting a finished shot's roto shapes in other formats (``rotoflow export``), from the
shapes file its latest finished job recorded; no model runs.

A shot kept in the local folder layout gets the new files in its ``roto/`` folder. A shot whose
outputs were published to object storage (its shapes file recorded by an ``s3://`` URL) is
re-exported from any machine: the shapes file is downloaded (checked against the sha256 of the
publication's marker), the formats are written in a temporary folder and added to the publication
(:func:`rotoflow.publication.add_to_publication`), and the database records their URLs. Either way
the files are added to the job's outputs.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exporters import shapes_json
from rotoflow import objectstore, records
from rotoflow.errors import ExportError
from rotoflow.publication import add_to_publication, fetch_published
from rotoflow.s3url import is_s3_url, parse_url
from rotoflow.types import OutputRecord
from tasks.stages.export import (
    check_formats,
    check_start_frame,
    format_files,
    is_matte_format,
    published_alphas,
    write_formats,
    write_matte_formats,
)


@dataclass
class Reexport:
    """What :func:`reexport` wrote.

    Attributes:
        files: Format name -> the files written for it (local paths or ``s3://`` URLs; several
            for a format that writes a file per frame).
        job_id: The finished job the files were recorded on.
    """

    files: dict[str, list[str]]
    job_id: int


def _write(
    shapes_file: Path, shot: str, shot_dir: Path, formats: list[str], start_frame: int | None
) -> list[OutputRecord]:
    """Write ``formats`` from ``shapes_file`` into ``shot_dir/roto`` with the plate's first frame
    at host frame ``start_frame`` (None: plate frames); returns an output record per file (kind:
    the format's name; path relative to ``shot_dir``; the start frame it was written with)."""
    try:
        text = shapes_file.read_text()
    except OSError as exc:
        raise ExportError(f"cannot read the shot's shapes {shapes_file}: {exc.strerror}") from exc
    fmt, shapes = shapes_json.read_from_string(text)
    written = write_formats(shapes, fmt, shot, shot_dir / "roto", formats, start_frame)
    if any(is_matte_format(n) for n in formats):
        names = _object_names(shot_dir, shapes)
        padding = _padding(shot_dir / "alpha" / names[0])
        written |= write_matte_formats(
            lambda: published_alphas(shot_dir, names, fmt), fmt, shot, shot_dir, formats, padding
        )
    host_start = fmt.first_frame if start_frame is None else start_frame
    return [
        OutputRecord(
            name,
            None,
            None,
            p.relative_to(shot_dir).as_posix(),
            start_frame=None if name == shapes_json.NAME or is_matte_format(name) else host_start,
        )
        for name, p in format_files(written)
    ]


def _padding(folder: Path) -> int:
    """The plate's frame padding, as the published alpha files of ``folder`` show it."""
    for p in sorted(folder.iterdir()):
        if m := re.search(r"\.(\d+)\.exr$", p.name):
            return len(m[1])
    raise ExportError(f"no published alpha files in {folder}; matte formats need them")


def _object_names(shot_dir: Path, shapes) -> list[str]:
    """The shot's objects, as its published ``alpha/`` folders name them: those with shapes in
    object id order, then any others by name."""
    alpha = shot_dir / "alpha"
    folders = sorted(p.name for p in alpha.iterdir() if p.is_dir()) if alpha.is_dir() else []
    by_shapes = [s.name for s in sorted(shapes, key=lambda s: s.object_id) if s.name in folders]
    names = list(dict.fromkeys(by_shapes + folders))
    if not names:
        raise ExportError(f"the shot has no published alphas in {alpha}; matte formats need them")
    return names


def reexport(
    settings: Any, project: str, shot: str, formats: list[str], start_frame: int | None = None
) -> Reexport:
    """Write a finished shot's roto shapes in ``formats`` and record them (module notes).

    Args:
        settings: :class:`rotoflow.settings.Settings` (database URL; the S3 endpoint).
        project: Project name.
        shot: Shot name, as ``rotoflow status`` lists it.
        formats: Roto format names (``nuke``, ``silhouette``, ...) and matte format names
            (``cryptomatte``: written from the shot's published ``alpha/`` files as
            ``<format>/<shot>.<frame>.exr``, local shot folders only).
        start_frame: Host frame at which the plate's first frame is keyed in the roto formats
            (:func:`exporters.frames.to_host`); None: the plate's own frame numbers. Recorded
            with each roto file's output.

    Returns:
        The files written, by format, and the job they were recorded on.

    Raises:
        ExportError: An unknown or non-roto format; the shot is unknown, has no finished job, or
            its shapes file cannot be read or is invalid; a start frame that is not an
            integer, or negative for a format that cannot key negative frames.
        StorageError: The shot's publication has no marker, does not list the shapes file, or
            its bytes differ from the listed sha256; no such bucket, access denied.
        StorageUnavailable: The object storage server cannot be reached or fails.
    """
    check_formats(formats)
    check_start_frame(formats, start_frame)
    url = settings.resolved_database_url()
    recorded = records.finished_shapes(url, project, shot)
    if not is_s3_url(recorded):
        source = Path(recorded)
        shot_dir = source.parent.parent  # <shot_dir>/roto/<shot>.shapes.json
        rows = _write(source, shot, shot_dir, formats, start_frame)
        job = records.record_export(url, project, shot, rows, shot_dir)
        return Reexport(_by_format(rows, lambda r: str(shot_dir / r.path)), job)

    if any(is_matte_format(n) for n in formats):
        raise ExportError(
            f"shot {shot!r} was published to object storage; matte formats "
            f"({', '.join(n for n in formats if is_matte_format(n))}) are re-exported only from a "
            "local shot folder: run the shot again with --format to write them"
        )
    shapes_url = parse_url(recorded)
    dest = shapes_url.parent.parent  # s3://bucket/prefix/<shot>
    rel = f"roto/{shapes_url.name}"
    store = objectstore.store_from_settings(settings)
    with tempfile.TemporaryDirectory(prefix="rotoflow-export-") as tmp:
        work = Path(tmp)
        source = fetch_published(store, dest, rel, work / rel)
        rows = _write(source, shot, work, formats, start_frame)
        urls = add_to_publication(store, {r.path: work / r.path for r in rows}, dest)
        rows = [dataclasses.replace(r, url=urls[r.path]) for r in rows]
        job = records.record_export(url, project, shot, rows, work)
    return Reexport(_by_format(rows, lambda r: r.url), job)


def _by_format(
    rows: list[OutputRecord], where: Callable[[OutputRecord], str]
) -> dict[str, list[str]]:
    """Format name -> where each of its files is (``where(record)``), in row order."""
    files: dict[str, list[str]] = {}
    for row in rows:
        files.setdefault(row.kind, []).append(where(row))
    return files
