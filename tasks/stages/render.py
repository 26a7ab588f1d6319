"""Render: finished movies of a shot from its plate and recorded mattes (no model runs).

One pass over the plate's frames draws every kind asked for (:data:`renders.KINDS`) and streams
each into its movie (:class:`rotoflow.movie.MovieWriter`), so memory does not grow with the
shot's length. The movies keep the plate's resolution, pixel aspect, frame rate and frame count,
with a start timecode from the plate's first frame number.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

from renders import KINDS, RenderOptions, check_kinds
from renders.composite import PlateFrame
from rotoflow import progress
from rotoflow.errors import RenderError
from rotoflow.files import check_name
from rotoflow.mattes import read_alpha_exr
from rotoflow.movie import CODECS, MovieWriter
from rotoflow.types import OutputRecord, PlateInfo
from rotoflow.workspace import ShotWorkspace, StageOutput
from tasks.stages import ingest, matte

STAGE = "render"


def movie_name(shot: str, kind: str) -> str:
    """File name of a shot's movie of one kind: ``<shot>_<kind>.mp4`` / ``.mov``."""
    return f"{check_name(shot, 'shot')}_{kind}{CODECS[KINDS[kind].codec]['suffix']}"


def chosen_objects(all_objects: Sequence, names: Sequence[str] | None) -> list:
    """The objects (:class:`~rotoflow.types.ObjectRef`) a render covers: those named, in the
    shot's order, or all of them for None.

    Raises:
        RenderError: A name is not one of the shot's objects (the message lists them).
    """
    if not names:
        return list(all_objects)
    known = {o.name for o in all_objects}
    for name in names:
        if name not in known:
            raise RenderError(
                f"object {name!r} is not in the shot; its objects: {', '.join(sorted(known))}"
            )
    return [o for o in all_objects if o.name in set(names)]


def run(
    ingest_out: StageOutput,
    propagate_out: StageOutput,
    matte_out: StageOutput,
    ws: ShotWorkspace,
    key: str,
    shot: str,
    kinds: Sequence[str],
    objects: Sequence[str] | None = None,
    options: RenderOptions | None = None,
) -> StageOutput:
    """Write ``<shot>_<kind>.<suffix>`` for each kind into the stage folder.

    Args:
        ingest_out, propagate_out, matte_out: The shot's finished stages (proxies, objects,
            alphas).
        ws: The shot's workspace.
        key: The stage's key (it must cover the matte key, kinds, objects and options).
        shot: The shot's name (file names, burn-ins).
        kinds: Render kind names (:func:`renders.check_kinds`).
        objects: Object names to render, or None for every object.
        options: Key colour and the like; the shot's name is filled in.

    Returns:
        The stage output; ``details["files"]`` maps each kind to its file name.

    Raises:
        RenderError: An unknown kind or an object not in the shot, before anything is written.
    """
    kinds = check_kinds(kinds)
    chosen = chosen_objects(propagate_out.objects(), objects)
    options = options or RenderOptions()
    options = RenderOptions(shot=shot, key_colour=options.key_colour)
    files = {kind: movie_name(shot, kind) for kind in kinds}
    run = ws.begin(STAGE, key)
    if run.done:
        return run.done
    info = ingest.plate_info(ingest_out)
    with ingest.open_proxies(ingest_out) as plate, run.staging() as tmp:
        frames = (
            PlateFrame(
                number,
                rgb,
                {
                    (o.id, o.name): read_alpha_exr(matte.alpha_path(matte_out, o.name, number))
                    for o in chosen
                },
            )
            for number, rgb in plate.iter_frames()
        )
        write_movies(Path(tmp), files, info, ahead(frames), options)
        return run.commit(
            tmp,
            n_frames=info.n_frames,
            details={"files": files, "objects": [o.name for o in chosen]},
        )


def ahead(items: Iterable[PlateFrame], depth: int = 2) -> Iterator[PlateFrame]:
    """``items`` in order, the next ``depth`` made in a background thread while the caller
    draws and encodes (reading a frame's plate and alpha EXRs overlaps encoding the one
    before; at most ``depth + 1`` frames are held). An error making an item is raised here."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="render-read") as pool:
        source = iter(items)
        queue: deque = deque()

        def fill() -> None:
            while len(queue) < depth:
                queue.append(pool.submit(next, source, _END))

        fill()
        while True:
            item = queue.popleft().result()
            if item is _END:
                return
            fill()
            yield item


_END = object()


def write_movies(
    folder: Path, files: dict[str, str], info: PlateInfo, frames: Iterable[PlateFrame], options
) -> dict[str, Path]:
    """Draw every kind of ``files`` (kind -> file name) on each frame and stream it into its
    movie in ``folder``, one pass over ``frames`` (the plate's, in order); progress is reported
    as ``render``. Movies appear only once complete (:class:`rotoflow.movie.MovieWriter`): an
    error leaves none of them.

    Returns:
        Kind -> the movie written.
    """
    with ExitStack() as stack:
        writers = {
            kind: stack.enter_context(
                MovieWriter(
                    folder / name,
                    KINDS[kind].codec,
                    info.width,
                    info.height,
                    info.fps,
                    info.first_frame,
                    info.pixel_aspect,
                )
            )
            for kind, name in files.items()
        }
        for n, frame in enumerate(frames, start=1):
            for kind, writer in writers.items():
                picture, alpha = KINDS[kind].draw(frame, options)
                writer.write(picture, alpha)
            progress.report("render", n, info.n_frames)
    return {kind: folder / name for kind, name in files.items()}


def sources(out: StageOutput) -> dict[str, Path]:
    """Kind -> movie file of a finished :func:`run`."""
    return {kind: out.dir / name for kind, name in out.details["files"].items()}


def with_renders(export_out: StageOutput, render_out: StageOutput | None) -> StageOutput:
    """The export stage's listing of the shot's outputs (:func:`tasks.stages.export.run`) with
    the movies of ``render_out`` added as ``renders/<file>`` (output kind: the render kind), so
    that they are uploaded, published and recorded with the rest; unchanged for None."""
    if render_out is None:
        return export_out
    details = dict(export_out.details)
    outputs, found = list(details["outputs"]), dict(details["sources"])
    for kind, path in sources(render_out).items():
        rel = f"renders/{path.name}"
        found[rel] = str(path)
        outputs.append(dataclasses.asdict(OutputRecord(kind, None, None, rel)))
    details.update(outputs=outputs, sources=found)
    return export_out.model_copy(update={"details": details})
