"""Export: write the roto formats and list every output of the shot with the stage file it is
published from; publication itself is the job's last step (:func:`rotoflow.workspace.publish_tree`,
after QC, the upload and everything else that can fail)."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

import exporters
from exporters import Feature, frames, shapes_json
from rotoflow import progress
from rotoflow.errors import ExportError
from rotoflow.files import atomic_write_text
from rotoflow.mattes import output_name, read_alpha_exr
from rotoflow.types import OutputRecord, ShotFormat
from rotoflow.workspace import ShotWorkspace, StageOutput
from tasks.stages import ingest, matte, propagate, vectorize

STAGE = "export"


#: Roto formats written when a job names none.
DEFAULT_FORMATS = ("nuke",)


def check_formats(formats) -> None:
    """Raise :class:`~rotoflow.errors.ExportError` for an unknown format name (the message lists
    the available ones) or one that a job cannot name: formats write roto shapes or a shot's
    mattes (Cryptomatte), not one frame's images (``exr``, ``png``)."""
    for name in formats:
        feats = exporters.features(name)
        if Feature.WRITE_ROTO not in feats and Feature.WRITE_MATTE_SHOT not in feats:
            raise ExportError(
                f"format {name!r} writes images, not roto shapes; roto formats: "
                f"{', '.join(roto_formats())}; matte formats: "
                f"{', '.join(exporters.matte_shot_formats())}"
            )


def is_matte_format(name: str) -> bool:
    """Whether the format ``name`` writes the shot's mattes (published at the shot's top level,
    ``<format>/<shot>.<frame>.exr``) rather than roto shapes (published in ``roto/``)."""
    return Feature.WRITE_MATTE_SHOT in exporters.features(name)


def check_start_frame(formats, start_frame: int | None) -> None:
    """Raise :class:`~rotoflow.errors.ExportError` for a start frame that is not an integer, or
    a negative one when a format of ``formats`` cannot key negative host frames (only those that
    declare :attr:`~exporters.Feature.NEGATIVE_FRAMES` can: Nuke, Fusion, the pipeline JSON)."""
    frames.check_start_frame(start_frame)
    if start_frame is None or start_frame >= 0:
        return
    for name in formats:
        if is_matte_format(name):
            continue  # keyed by plate frame numbers
        if Feature.NEGATIVE_FRAMES not in exporters.features(name):
            frames.to_host([], _PROBE, start_frame, name, exporters.features(name))


_PROBE = ShotFormat(1, 1)


def roto_formats() -> list[str]:
    """Names of the formats that write roto shapes as text (Nuke, Silhouette, ...)."""
    return exporters.roto_formats()


def write_formats(
    shapes, fmt, shot_name: str, dest: Path, formats, start_frame: int | None = None
) -> dict[str, Path]:
    """Write ``shapes`` in every roto format of ``formats`` into ``dest`` as ``<shot><suffix>``
    (or as the format's own ``write_shot`` lays it out); matte formats are skipped
    (:func:`write_matte_formats`).

    Args:
        start_frame: The host frame at which the plate's first frame sits
            (:func:`exporters.frames.to_host`): every format keys plate frame ``f`` at
            ``f - fmt.first_frame + start_frame``; the pipeline JSON keeps plate frames and
            records it, and Fusion records the offset (its reader gives back plate frames).
            None: the plate's own frame numbers.

    Returns:
        ``{format name: written file}``.

    Raises:
        ExportError: an unknown format name, shapes the format cannot take, a start frame that
            is not an integer, or a negative one for a format that cannot key negative frames
            (checked for every format before any file is written).
    """
    check_formats(formats)
    names = [n for n in dict.fromkeys(formats) if not is_matte_format(n)]  # mattes: below
    hosted = {}
    for name in names:
        mod = exporters.from_name(name)
        if name == shapes_json.NAME:
            frames.check_start_frame(start_frame)
            hosted[name] = (shapes, fmt, {"start_frame": start_frame})
        elif Feature.FRAME_OFFSET in mod.FEATURES:  # keys moved, plate frames recorded
            host_fmt = frames.to_host(shapes, fmt, start_frame, name, mod.FEATURES)[1]
            hosted[name] = (shapes, fmt, {"frame_offset": host_fmt.first_frame - fmt.first_frame})
        else:
            hosted[name] = (*frames.to_host(shapes, fmt, start_frame, name, mod.FEATURES), {})
    written = {}
    for name in names:
        mod = exporters.from_name(name)
        host_shapes, host_fmt, options = hosted[name]
        if Feature.WRITE_SHOT in mod.FEATURES:  # formats of several files (SVG: one per frame)
            written[name] = mod.write_shot(host_shapes, host_fmt, dest, shot_name)
            continue
        if Feature.NODE_NAME in mod.FEATURES:
            options["node_name"] = f"Roto_{shot_name}"
        path = dest / f"{shot_name}{mod.SUFFIXES[0]}"
        atomic_write_text(path, mod.write_to_string(host_shapes, host_fmt, **options))
        written[name] = path
    return written


def write_matte_formats(
    frames: Callable[[], Iterable[tuple[int, dict[str, np.ndarray]]]],
    fmt,
    shot_name: str,
    dest: Path,
    formats,
    padding: int,
) -> dict[str, Path]:
    """Write the shot's mattes in every matte format of ``formats`` (Cryptomatte) as
    ``dest/<format>/<shot>.<frame>.exr``; roto formats are skipped.

    Args:
        frames: Called once per format; yields ``(plate frame, {object name: (H, W) float32
            alpha})`` for every frame of the shot (e.g. :func:`stage_alphas`).
        fmt: The shot's :class:`~rotoflow.types.ShotFormat`.
        shot_name: The shot, the files' stem.
        dest: Folder that gets a folder per format.
        formats: Format names.
        padding: The plate's frame padding.

    Returns:
        ``{format name: written folder}``.

    Raises:
        ExportError: an unknown format name, or mattes the format cannot take.
    """
    check_formats(formats)
    written = {}
    for name in dict.fromkeys(formats):
        if is_matte_format(name):
            mod = exporters.from_name(name)
            written[name] = mod.write_matte_shot(
                frames(), fmt, dest / name, shot_name, padding=padding
            )
    return written


def stage_alphas(
    matte_out: StageOutput, names: list[str], frame_range
) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """``(frame, {object: alpha})`` for each frame of ``frame_range``, read from a finished
    matte stage (:func:`tasks.stages.matte.alpha_path`)."""
    for frame in frame_range:
        yield frame, {n: read_alpha_exr(matte.alpha_path(matte_out, n, frame)) for n in names}


def published_alphas(shot_dir: Path, names: list[str], fmt) -> Iterator[tuple[int, dict]]:
    """``(frame, {object: alpha})`` for each frame of the shot, read from its published
    ``alpha/<object>/<object>.<frame>.exr`` files (what :func:`run` lists), whatever the padding.

    Raises:
        ExportError: an object or frame without its alpha file.
    """
    by_frame: dict[str, dict[int, Path]] = {}
    for name in names:
        stem = output_name(name, 0, 1, "exr").rsplit(".", 2)[0]
        pattern = re.compile(rf"{re.escape(stem)}\.(\d+)\.exr")
        folder = shot_dir / "alpha" / name
        files = sorted(folder.iterdir()) if folder.is_dir() else []
        by_frame[name] = {int(m[1]): p for p in files if (m := pattern.fullmatch(p.name))}
    for frame in range(fmt.first_frame, fmt.last_frame + 1):
        mattes = {}
        for name, files in by_frame.items():
            if frame not in files:
                raise ExportError(
                    f"no published alpha of object {name!r} at frame {frame} in "
                    f"{shot_dir / 'alpha' / name}; matte formats are written from those files"
                )
            mattes[name] = read_alpha_exr(files[frame])
        yield frame, mattes


def format_files(written: dict[str, Path]) -> Iterator[tuple[str, Path]]:
    """``(format name, file)`` per file that :func:`write_formats` wrote; a format that writes a
    folder (SVG: a file per frame) gives each file in it, in name order."""
    for name, path in written.items():
        for one in sorted(path.iterdir()) if path.is_dir() else [path]:
            yield name, one


def run(
    shot_name: str,
    ingest_out: StageOutput,
    propagate_out: StageOutput,
    matte_out: StageOutput,
    vectorize_out: StageOutput,
    ws: ShotWorkspace,
    key: str,
    formats=DEFAULT_FORMATS,
    start_frame: int | None = None,
) -> StageOutput:
    """Write the roto formats (once per key) and list every output of the shot (every run).

    Layout to publish: ``masks/<object>/<object>.<frame>.png``,
    ``alpha/<object>/<object>.<frame>.exr``, ``roto/<shot>.<suffix>`` per roto format in
    ``formats`` (``nuke`` by default), ``<format>/<shot>.<frame>.exr`` per matte format
    (``cryptomatte``, from the matte stage's alphas) and ``roto/<shot>.shapes.json``. ``details["outputs"]`` lists
    the :class:`~rotoflow.types.OutputRecord` of each (read with
    :meth:`~rotoflow.workspace.StageOutput.outputs`), ``details["sources"]`` maps each relative
    path to the file inside the shot's stage folders that :func:`~rotoflow.workspace.publish_tree`
    publishes. Nothing is published here.

    ``start_frame`` is the host frame of the plate's first frame in the roto formats
    (:func:`write_formats`; None: plate frame numbers); each roto file's output record carries
    the start frame it was written with. It belongs in ``key`` (a different one re-exports).
    """
    run = ws.begin(STAGE, key)
    info = ingest.plate_info(ingest_out)
    fmt, shapes = shapes_json.read_from_string((vectorize_out.dir / vectorize.SHAPES).read_text())
    done = run.done
    if done is None:
        with run.staging() as tmp:
            written = write_formats(shapes, fmt, shot_name, tmp, formats, start_frame)
            names = [ref.name for ref in vectorize_out.objects()]
            written |= write_matte_formats(
                lambda: stage_alphas(matte_out, names, info.frame_range),
                fmt,
                shot_name,
                tmp,
                formats,
                info.padding,
            )
            files = {name: p.name for name, p in written.items()}
            done = run.commit(tmp, n_frames=info.n_frames, details={"files": files})
    sources: dict[str, Path] = {}
    rows: list[OutputRecord] = []

    def add(
        kind: str, obj: int | None, frame: int | None, rel: str, src: Path, start: int | None = None
    ) -> None:
        sources[rel] = src
        rows.append(OutputRecord(kind, obj, frame, rel, start_frame=start))

    objects = vectorize_out.objects()
    for n_done, ref in enumerate(objects):
        object_id, object_name = ref.id, ref.name
        progress.report("export", n_done, len(objects))
        for frame in info.frame_range:
            name = output_name(object_name, frame, info.padding, "png")
            add(
                "mask",
                object_id,
                frame,
                f"masks/{object_name}/{name}",
                propagate.mask_path(propagate_out, object_name, frame),
            )
            name = output_name(object_name, frame, info.padding, "exr")
            add(
                "alpha",
                object_id,
                frame,
                f"alpha/{object_name}/{name}",
                matte.alpha_path(matte_out, object_name, frame),
            )
    written = {name: done.dir / file for name, file in done.details["files"].items()}
    for name, one in format_files(written):
        if is_matte_format(name):  # plate frame numbers, published at the shot's top level
            add(name, None, None, str(one.relative_to(done.dir)), one)
            continue
        host_start = fmt.first_frame if start_frame is None else start_frame
        host_start = None if name == shapes_json.NAME else host_start
        add(name, None, None, f"roto/{one.relative_to(done.dir)}", one, host_start)
    add("shapes", None, None, f"roto/{shot_name}.shapes.json", vectorize_out.dir / vectorize.SHAPES)
    progress.report("export", len(objects), len(objects))
    details = {
        "outputs": [dataclasses.asdict(r) for r in rows],
        "sources": {rel: str(src) for rel, src in sources.items()},
    }
    return done.model_copy(
        update={"seconds": time.perf_counter() - run.started, "details": details}
    )


def sources(out: StageOutput) -> dict[str, Path]:
    """Relative published path -> stage file, of a finished :func:`run`."""
    return {rel: Path(src) for rel, src in out.details["sources"].items()}
