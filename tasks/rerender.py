"""Rendering a finished shot again from its published mattes (``rotoflow render``); no model runs.

The plate is read again from where the shot's job recorded it (display-referred 8-bit, as the
proxies were: sRGB, or the ``ocio_config`` setting's display transform of a scene-linear plate),
with each object's published ``alpha/<object>/<object>.<frame>.exr``. The movies go to the shot
folder's ``renders/`` (or another folder) and are added to the outputs of the shot's latest
finished job. Shots published to object storage are rendered by running them again with
``--render``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from renders import RenderOptions, check_kinds, parse_colour
from renders.composite import PlateFrame
from rotoflow import records
from rotoflow.errors import RenderError
from rotoflow.files import inside
from rotoflow.mattes import read_alpha_exr
from rotoflow.plate import open_plate
from rotoflow.s3url import is_s3_url
from rotoflow.types import OutputRecord
from tasks.stages.render import ahead, movie_name, write_movies


@dataclass
class Rerender:
    """What :func:`rerender` wrote: kind -> movie, and the job they were recorded on."""

    files: dict[str, Path]
    job_id: int


def _alpha_files(shot_dir: Path, name: str, frames: range) -> dict[int, Path]:
    """Frame -> the published alpha EXR of object ``name`` on every frame of ``frames``.

    Raises:
        RenderError: The object has no published alpha on some frame (the first is named).
    """
    folder = shot_dir / "alpha" / name
    found: dict[int, Path] = {}
    if folder.is_dir():
        for p in folder.iterdir():
            if m := re.fullmatch(re.escape(name) + r"\.(-?\d+)\.exr", p.name):
                found[int(m[1])] = p
    missing = [f for f in frames if f not in found]
    if missing:
        raise RenderError(
            f"the shot has no matte of {name!r} on frame {missing[0]} in {folder}; run it again"
        )
    return found


def rerender(
    settings: Any,
    project: str,
    shot: str,
    kinds: Sequence[str],
    objects: Sequence[str] | None = None,
    out: Path | None = None,
    key_colour: str = "0,255,0",
) -> Rerender:
    """Render a finished shot's movies again (module notes) and record them.

    Args:
        settings: :class:`rotoflow.settings.Settings` (database URL, OCIO config).
        project: Project name.
        shot: Shot name, as ``rotoflow status`` lists it.
        kinds: Render kind names (:data:`renders.KINDS`).
        objects: Names of the objects to show, or None for all.
        out: Folder for the movies (created); None for the shot folder's ``renders/``.
        key_colour: The greenscreen's colour (:func:`renders.parse_colour`).

    Returns:
        The movies written and the job they were recorded on.

    Raises:
        RenderError: Unknown kind or colour, an object not in the shot, a shot published to
            object storage, or an object without its mattes on every frame; nothing is written.
        ExportError: No such shot in the project, or it has no finished job.
        PlateError: The plate cannot be read, or no longer has the shot's frames.
    """
    kinds = check_kinds(kinds)
    options = RenderOptions(shot=shot, key_colour=parse_colour(key_colour))
    url = settings.resolved_database_url()
    shapes = records.finished_shapes(url, project, shot)
    if is_s3_url(shapes):
        raise RenderError(
            f"shot {shot!r} was published to object storage; render it by running it again "
            "with --render"
        )
    shot_dir = Path(shapes).parent.parent  # <shot_dir>/roto/<shot>.shapes.json
    plate_path, frames, known = records.finished_shot(url, project, shot)
    names = [name for _, name in known]
    for name in objects or []:
        if name not in names:
            raise RenderError(
                f"object {name!r} is not in the shot; its objects: {', '.join(names)}"
            )
    chosen = [(i, n) for i, n in known if not objects or n in objects]
    alphas = {(i, n): _alpha_files(shot_dir, n, frames) for i, n in chosen}
    dest = inside(shot_dir, shot_dir / "renders") if out is None else Path(out)
    with open_plate(
        plate_path, movie_first_frame=frames.start, ocio_config=settings.ocio_config
    ) as plate:
        info = plate.info
        if info.frame_range != frames:
            raise RenderError(
                f"the plate {plate_path} now holds frames {info.first_frame}-{info.last_frame}, "
                f"the shot {frames.start}-{frames.stop - 1}; run the shot again"
            )

        def each() -> Iterator[PlateFrame]:
            for number, rgb in plate.iter_frames():
                yield PlateFrame(
                    number, rgb, {o: read_alpha_exr(files[number]) for o, files in alphas.items()}
                )

        dest.mkdir(parents=True, exist_ok=True)
        written = write_movies(
            dest, {k: movie_name(shot, k) for k in kinds}, info, ahead(each()), options
        )
    rows = [
        OutputRecord(kind, None, None, _relative(path, shot_dir)) for kind, path in written.items()
    ]
    job = records.record_export(url, project, shot, rows, shot_dir)
    return Rerender(written, job)


def _relative(path: Path, shot_dir: Path) -> str:
    """``path`` relative to the shot folder when it lies inside it, else absolute."""
    try:
        return path.resolve().relative_to(shot_dir.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())
