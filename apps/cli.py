"""``rotoflow`` command line: run the roto flow on a plate, show the project database, score masks.

Errors caused by the input (a bad plate, a prompt that matches nothing, a box outside the frame)
print one line on stderr and exit with status 2; other failures exit with status 1.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from apps import cli_options as opt
from apps.cli_local import local_app
from apps.cli_models import models_app
from apps.cli_options import EXIT_FAILURE, EXIT_INPUT, build_prompts, check_renders, format_list
from apps.cli_options import fail as _fail

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0])
app.add_typer(models_app, name="models")
app.add_typer(local_app)  # up, down, submit: top-level commands
out = Console()
err = Console(stderr=True)


class _Bars:
    """rich progress bars, one per stage label, fed by :mod:`rotoflow.progress`."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, int] = {}

    def __call__(self, label: str, done: int, total: int) -> None:
        if label not in self.tasks:
            self.tasks[label] = self.progress.add_task(label, total=total)
        self.progress.update(self.tasks[label], completed=done, total=total)


def _prefect_env() -> None:
    """Point Prefect (not imported yet) at a server: ``PREFECT_API_URL`` when set, else the one
    ``rotoflow up`` started, so that the run shows in its UI and shares its GPU slots; else
    Prefect starts a temporary one. The server of ``rotoflow up`` is sent its auth string
    (``PREFECT_API_AUTH_STRING``), and no other server is."""
    from apps import local
    from rotoflow.settings import get_settings

    home = get_settings().home
    if not os.environ.get("PREFECT_API_URL"):
        up = local.api_url(home)
        if up is not None:
            os.environ["PREFECT_API_URL"] = up
            err.print(f"reporting to the Prefect server of `rotoflow up`: {up}", highlight=False)
    if os.environ.get("PREFECT_API_URL"):
        auth = local.api_auth(home, os.environ["PREFECT_API_URL"])
        if auth is not None:
            os.environ["PREFECT_API_AUTH_STRING"] = auth
    # A temporary server's first start migrates a fresh database, which takes longer than
    # Prefect's 20 s default on a busy laptop.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@contextmanager
def _console_logs(verbose: bool) -> Iterator[None]:
    """Silence Prefect's console handlers unless ``verbose``: every failed task prints its
    traceback there, and the user gets our one-line error instead. Logs still reach the Prefect
    API (the UI) in full. They stay silent until the process ends, which also keeps Prefect's
    "stopping temporary server" line from trailing our summary."""
    if not verbose:
        from prefect.logging.handlers import PrefectConsoleHandler

        loggers = [logging.getLogger(), *map(logging.getLogger, logging.root.manager.loggerDict)]
        for lg in loggers:
            for h in lg.handlers:
                if isinstance(h, PrefectConsoleHandler):
                    h.setLevel(logging.CRITICAL + 1)
    yield


@app.command()
def run(
    plate: opt.Plate,
    prompt: opt.Prompt = None,
    box: opt.Boxes = [],  # noqa: B006
    point: opt.Points = [],  # noqa: B006
    negative: opt.Negatives = [],  # noqa: B006
    mask: opt.Masks = [],  # noqa: B006
    shapes: opt.Shapes = [],  # noqa: B006
    shape_name: opt.ShapeName = None,
    all_matches: opt.AllMatches = False,
    frame: opt.Frame = None,
    name: opt.Name = None,
    prompts: opt.PromptsFile = None,
    models: opt.Models = None,
    detector: opt.Detector = None,
    segmenter: opt.Segmenter = None,
    tracker: opt.Tracker = None,
    matter: opt.Matter = None,
    formats: opt.Formats = "nuke",
    start_frame: opt.StartFrame = None,
    renders: opt.Renders = "",
    render_objects: opt.RenderObjects = "",
    key_colour: opt.KeyColour = "0,255,0",
    shot: opt.Shot = None,
    project: opt.Project = None,
    out_dir: opt.OutDir = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's logs.")] = False,
) -> None:
    """Roto a shot: masks, alpha mattes and a Nuke roto script per object, and the movies asked
    for with --render."""
    shot_prompts = build_prompts(
        prompt, box, point, negative, frame, name, prompts, mask, all_matches, shapes, shape_name
    )
    _prefect_env()
    from pydantic import ValidationError

    from flows.roto_shot import roto_shot
    from rotoflow import progress as progress_mod
    from rotoflow.pipeline import RotoJob

    try:
        job = RotoJob(
            plate=plate,
            prompts=shot_prompts,
            shot=shot,
            project=project,
            models=models,
            detector=detector,
            segmenter=segmenter,
            tracker=tracker,
            matter=matter,
            output_root=str(out_dir) if out_dir else None,
            formats=format_list(formats),
            start_frame=start_frame,
            renders=format_list(renders),
            render_objects=format_list(render_objects),
            key_colour=key_colour,
        )
    except ValidationError as exc:
        _fail(f"invalid job: {exc.errors()[0]['msg']}", EXIT_INPUT)
    if out_dir:  # the user's own shell may write where it likes; runs from the API may not
        _allow_output_root(out_dir)
    try:
        from rotoflow.prompts import check_object_count
        from rotoflow.settings import get_settings

        check_object_count(len(shot_prompts.objects), get_settings().max_objects)
        _check_models(job)
        from tasks.stages.export import check_formats, check_start_frame

        check_formats(job.formats)
        check_start_frame(job.formats, job.start_frame)
        check_renders(job, shot_prompts)
    except Exception as exc:
        _fail(*_failure(exc, job))
    columns = (
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    try:
        with (
            _console_logs(verbose),
            Progress(*columns, console=err, transient=False) as bars,
            progress_mod.reporting(_Bars(bars)),
        ):
            result = roto_shot(job)
    except Exception as exc:
        _fail(*_failure(exc, job))
    out.print(
        f"shot [bold]{Path(result['shot_dir']).name}[/]: {result['outputs']} outputs in "
        f"{result['shot_dir']} (job {result['job_id']})",
        highlight=False,
    )


def _allow_output_root(root: Path) -> None:
    """Add ``--out`` to the output roots this process allows (see :mod:`rotoflow.roots`): the
    flow of ``rotoflow run`` runs here, for the user who typed it."""
    from rotoflow.settings import get_settings

    settings = get_settings()
    settings.output_roots = [*settings.output_roots, root.absolute()]


def _failure(exc: BaseException, job) -> tuple[str, int]:
    """The one-line message and exit status of a failed run: 2 for bad input (our own errors),
    1 for the rest, including a full disk and object storage that cannot be reached, which our
    errors may wrap. The frames of its traceback are cleared, so that nothing they held (an
    OpenImageIO object) is still alive at exit, where its bindings would report it as leaked."""
    from rotoflow.errors import RotoflowError, StorageUnavailable
    from rotoflow.records import describe_error
    from rotoflow.settings import get_settings

    chain = _chain(exc)
    for e in chain:
        if e.__traceback__ is not None:
            traceback.clear_frames(e.__traceback__)
    for e in chain:
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            root = job.output_root or get_settings().output_root
            where = e.filename or f"under {root}"
            what = "no space left on device" if e.errno == errno.ENOSPC else "disk quota exceeded"
            return f"{what} writing {where}", EXIT_FAILURE
        if "database or disk is full" in str(e):  # SQLite's message; it gives no errno
            return "no space left on device writing the project database", EXIT_FAILURE
    for e in chain:
        if isinstance(e, StorageUnavailable):
            return f"object storage unreachable: {describe_error(e)}", EXIT_FAILURE
    if isinstance(exc, RotoflowError):
        return describe_error(exc), EXIT_INPUT
    return describe_error(exc), EXIT_FAILURE


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from or during (``__cause__``, ``__context__``)."""
    out: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop(0)
        if e is not None and all(e is not seen for seen in out):
            out.append(e)
            todo += [e.__cause__, e.__context__]
    return out


def _check_models(job) -> None:
    """Fail before Prefect starts when a chosen model is unknown or missing from the model store
    with no hub to fetch it from (seconds, not a server start-up). The job is resolved as the flow
    will resolve it, so the check sees the same models and store."""
    from models.registry import staged_models
    from rotoflow.pipeline import resolve
    from rotoflow.settings import get_settings

    staged_models(resolve(job, get_settings()))


@app.command("export")
def export_shot(
    shot: Annotated[str, typer.Argument(help="Shot name, as `rotoflow status` lists it.")],
    formats: opt.Formats = "nuke",
    start_frame: opt.StartFrame = None,
    project: Annotated[
        str | None, typer.Option(help="Project (default: ROTOFLOW_PROJECT).")
    ] = None,
) -> None:
    """Write a finished shot's roto shapes in other formats, from its recorded shapes (no models
    run); the files go to the shot's roto/ folder, or to its publication in object storage when
    its outputs were published there, and into the project database. Matte formats (cryptomatte)
    are written from the shot folder's alpha/ files into <format>/<shot>.<frame>.exr."""
    from rotoflow.errors import RotoflowError, StorageUnavailable
    from rotoflow.settings import get_settings
    from tasks.reexport import reexport

    settings = get_settings()
    try:
        done = reexport(
            settings, project or settings.project, shot, format_list(formats), start_frame
        )
    except StorageUnavailable as exc:
        _fail(str(exc), EXIT_FAILURE)
    except RotoflowError as exc:
        _fail(str(exc), EXIT_INPUT)
    for name, files in done.files.items():
        where = (
            files[0] if len(files) == 1 else f"{len(files)} files in {files[0].rpartition('/')[0]}"
        )
        out.print(f"{name}: {where}", highlight=False, soft_wrap=True)  # paths unbroken
    out.print(f"recorded on job {done.job_id}", highlight=False)


@app.command("render")
def render_shot(
    shot: Annotated[str, typer.Argument(help="Shot name, as `rotoflow status` lists it.")],
    kinds: Annotated[
        str, typer.Option("--kind", help=opt.RENDERS_HELP.replace(" Default: none.", ""))
    ],
    render_objects: opt.RenderObjects = "",
    key_colour: opt.KeyColour = "0,255,0",
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the movies (default: the shot's renders/)."),
    ] = None,
    project: Annotated[
        str | None, typer.Option(help="Project (default: ROTOFLOW_PROJECT).")
    ] = None,
) -> None:
    """Render a finished shot's movies again from its plate and published mattes (no models
    run); they go to the shot's renders/ folder (or --out) and into the project database."""
    from rotoflow.errors import RotoflowError
    from rotoflow.settings import get_settings
    from tasks.rerender import rerender

    settings = get_settings()
    try:
        done = rerender(
            settings,
            project or settings.project,
            shot,
            format_list(kinds),
            format_list(render_objects) or None,
            out_dir,
            key_colour,
        )
    except RotoflowError as exc:
        _fail(str(exc), EXIT_INPUT)
    for kind, path in done.files.items():
        out.print(f"{kind}: {path}", highlight=False, soft_wrap=True)
    out.print(f"recorded on job {done.job_id}", highlight=False)


@app.command()
def watch(
    folders: Annotated[list[Path], typer.Argument(help="Folders to watch for dropped shots.")],
    settle: Annotated[
        float, typer.Option(help="Seconds a drop without a ready marker must stay unchanged.")
    ] = 30.0,
    interval: Annotated[float, typer.Option(help="Seconds between polls.")] = 5.0,
    deployment: Annotated[
        str | None,
        typer.Option(help="Start a run of this deployment (e.g. roto-shot/roto-shot) per shot."),
    ] = None,
    project: Annotated[str | None, typer.Option(help="Project name.")] = None,
    once: Annotated[bool, typer.Option(help="Poll once and exit.")] = False,
) -> None:
    """Take in shots dropped into folders (movies, image-sequence folders), each once and only
    when complete; see `flows.watch`. Shots with a prompts sidecar are started on DEPLOYMENT
    when given; the others stay pending."""
    import time

    from flows.watch import Watcher
    from rotoflow.settings import get_settings

    settings = get_settings()
    start = None
    if deployment:
        _prefect_env()  # the server of `rotoflow up`, with its auth string
        from flows.watch_folder import deployment_starter

        start = deployment_starter(deployment)
    watcher = Watcher(
        folders,
        settings.resolved_database_url(),
        project or settings.project,
        settle=settle,
        start=start,
    )
    while True:
        try:
            taken = watcher.poll()
        except FileNotFoundError as exc:
            _fail(str(exc), EXIT_INPUT)
        for shot in taken:
            out.print(f"took in {shot}", highlight=False)
        if once:
            return
        time.sleep(interval)


@app.command()
def status(
    limit: Annotated[int, typer.Option(help="Most recent jobs to list.")] = 20,
) -> None:
    """Shots and recent jobs from the project database; running jobs whose worker stopped are
    marked crashed first, with the reason."""
    from sqlalchemy.exc import DBAPIError
    from sqlmodel import select

    from rotoflow import db
    from rotoflow.liveness import reap_crashed
    from rotoflow.settings import get_settings

    url = get_settings().resolved_database_url()
    try:
        for crashed in reap_crashed(url):
            err.print(
                f"job {crashed.job_id} crashed: {crashed.reason}", markup=False, soft_wrap=True
            )
    except DBAPIError as exc:
        err.print(f"could not look for crashed jobs: {exc.orig}", markup=False, soft_wrap=True)
    with db.session(url) as s:
        shots = s.exec(select(db.Shot, db.Project).join(db.Project)).all()
        jobs = s.exec(select(db.Job).order_by(db.Job.id.desc()).limit(limit)).all()
        names = {sh.id: sh.name for sh, _ in shots}
    t = Table(title=f"Shots ({db.redacted(url)})")
    for c in ("project", "shot", "status", "frames", "size", "updated", "error"):
        t.add_column(c)
    for sh, p in shots:
        frames = f"{sh.first_frame}-{sh.last_frame}" if sh.first_frame is not None else ""
        size = f"{sh.width}x{sh.height}" if sh.width else ""
        t.add_row(
            p.name,
            sh.name,
            sh.status.value,
            frames,
            size,
            f"{sh.updated_at:%Y-%m-%d %H:%M}",
            sh.error or "",
        )
    out.print(t)
    t = Table(title="Jobs")
    for c in ("job", "shot", "status", "seconds", "models", "error"):
        t.add_column(c)
    for j in jobs:
        secs = sum((j.timings or {}).values())
        t.add_row(
            str(j.id),
            names.get(j.shot_id, "?"),
            j.status.value,
            f"{secs:.1f}",
            ", ".join(
                sorted({v for k, v in (j.models or {}).items() if not k.endswith("_sha256")})
            ),
            j.error or "",
        )
    out.print(t)


@app.command("eval")
def evaluate(
    pred_dir: Annotated[
        Path, typer.Argument(help="Predicted masks (one object), e.g. masks/<object>.")
    ],
    gt_dir: Annotated[
        Path, typer.Argument(help="Ground-truth masks, e.g. DAVIS Annotations/480p/<seq>.")
    ],
    exclude_frame: Annotated[
        list[int] | None,
        typer.Option(help="Prompted frame(s) to exclude (default: the first ground-truth frame)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    frames: Annotated[bool, typer.Option(help="List every frame, not only the means.")] = True,
) -> None:
    """DAVIS J (region IoU), F (boundary F-measure) and J&F, per frame and mean."""
    from rotoflow.errors import RotoflowError
    from rotoflow.evaluation import evaluate_masks

    try:
        kwargs = {"exclude_frames": tuple(exclude_frame)} if exclude_frame else {}
        score = evaluate_masks(pred_dir, gt_dir, **kwargs)
    except RotoflowError as exc:
        _fail(str(exc), EXIT_INPUT)
    if as_json:
        sys.stdout.write(json.dumps(dataclasses.asdict(score), indent=1) + "\n")
        return
    t = Table(title=f"{pred_dir.name} vs ground truth {gt_dir.name}")
    for c in ("frame", "J", "F", "J&F"):
        t.add_column(c, justify="right")
    if frames:
        for row in score.frames:
            t.add_row(str(row.frame), f"{row.j:.3f}", f"{row.f:.3f}", f"{(row.j + row.f) / 2:.3f}")
    t.add_row("mean", f"{score.j:.3f}", f"{score.f:.3f}", f"{score.jf:.3f}", style="bold")
    out.print(t)


if __name__ == "__main__":
    app()
