"""``rotoflow up`` / ``down`` / ``submit``: one machine as a studio (see :mod:`apps.local`).

``up`` starts a local Prefect server (UI at http://127.0.0.1:4200), the ``rotoflow`` work pool and
its concurrency limits, the deployments of ``deployments/prefect.yaml`` and process workers;
``down`` stops them; ``submit`` starts a ``roto-shot`` run on the server and waits for it. The
server's API asks for the auth string ``up`` keeps in ``<ROTOFLOW_HOME>/prefect/api-auth``
(see :mod:`apps.localauth`); ``submit`` and ``down`` read it from there.

Errors caused by the input print one line on stderr and exit with status 2; a server that does
not start, or a run that fails, exits with status 1.
"""

from __future__ import annotations

import os
import shlex
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from apps import cli_options as opt
from apps.cli_options import build_prompts, format_list

local_app = typer.Typer()
out = Console()
err = Console(stderr=True)

EXIT_INPUT = 2
EXIT_FAILURE = 1
FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def _fail(message: str, code: int) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _say(message: str) -> None:
    out.print(message, highlight=False, soft_wrap=True)


def _workers(pids: list[int]) -> str:
    return f"{len(pids)} process worker{'s' * (len(pids) != 1)}"


@local_app.command()
def up(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Server port.")] = 4200,
    host: Annotated[
        str,
        typer.Option(
            help="Address the server listens on (another than loopback is reachable from other "
            "machines, over plain HTTP; the API asks for the auth string all the same)."
        ),
    ] = "127.0.0.1",
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Process workers, one flow run each at a time; with several GPUs, worker n gets "
            "GPU n mod GPUs.",
        ),
    ] = 1,
    gpu_slots: Annotated[
        int | None,
        typer.Option(min=1, help="Slots of the rotoflow-gpu limit (default: one per CUDA GPU)."),
    ] = None,
    watch: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the watch-folder deployment (default: ROTOFLOW_WATCH_FOLDER)."
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds to wait for the server, then the workers.")
    ] = 180.0,
) -> None:
    """Start a local Prefect server (data in <ROTOFLOW_HOME>/prefect), the rotoflow work pool and
    concurrency limits, the deployments and the workers, in the background. Its API and UI ask
    for the auth string in <ROTOFLOW_HOME>/prefect/api-auth."""
    from apps import local, localauth, procs
    from rotoflow.settings import get_settings

    if watch is not None and not watch.is_dir():
        _fail(f"--watch {watch} is not a folder", EXIT_INPUT)
    settings = get_settings()
    try:
        with err.status("rotoflow up", spinner="dots") as spinner:
            result = local.up(
                settings,
                host=host,
                port=port,
                workers=workers,
                gpu_slots=gpu_slots,
                watch=watch,
                timeout=timeout,
                step=lambda text: spinner.update(f"{text} ..."),
            )
    except local.LocalStackError as exc:
        _fail(str(exc), EXIT_FAILURE)
    state = result.state
    if result.already:
        _say(f"already up: server pid {state.server_pid}, {_workers(state.worker_pids)}")
        stopped = [p for p in state.worker_pids if not procs.is_ours(p)]
        if stopped:
            _say(f"{len(stopped)} of the workers stopped; `rotoflow down` then `rotoflow up`")
    else:
        if result.stale:
            _say("cleaned up after a previous `rotoflow up` whose server had stopped")
        _say(f"server pid {state.server_pid}, data in {state.data}")
        pids = ", ".join(map(str, state.worker_pids))
        _say(
            f"work pool {local.WORK_POOL}: {_workers(state.worker_pids)} (pid {pids}); "
            f"limit {local.GPU_LIMIT}: {result.gpu_slots} slot{'s' * (result.gpu_slots != 1)}"
        )
        if any(state.worker_gpus):
            gpus = ", ".join(f"worker {n} on GPU {g}" for n, g in enumerate(state.worker_gpus, 1))
            _say(f"CUDA_VISIBLE_DEVICES: {gpus}")
        _say(f"deployments: {', '.join(state.deployments)}")
        for name, why in result.skipped.items():
            hint = " (or give --watch FOLDER)" if "ROTOFLOW_WATCH_FOLDER" in why else ""
            _say(f"deployment {name} not registered: {why}{hint}")
    auth_file = localauth.auth_path(Path(state.data))
    if not localauth.is_loopback(state.host):
        _say(
            f"listening on {state.host}: other machines reach the API over plain HTTP, so its auth "
            "string crosses the network in the clear; put TLS in front for anything but a "
            "trusted network"
        )
    _say(f"UI: {state.ui_url} (log in with the auth string in {auth_file})")
    _say(f"export PREFECT_API_URL={state.api_url}")
    _say(f'export PREFECT_API_AUTH_STRING="$(cat {shlex.quote(str(auth_file))})"')


@local_app.command()
def down(
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds to wait for each process before killing it.")
    ] = 30.0,
) -> None:
    """Stop what `rotoflow up` started: cancel runs in progress, stop the workers, then the
    server."""
    from apps import local
    from rotoflow.settings import get_settings

    with err.status("rotoflow down ...", spinner="dots"):
        result = local.down(get_settings().home, timeout=timeout)
    if result.state is None:
        _say("nothing is up")
        return
    for name in result.cancelled:
        _say(f"cancelled run {name}")
    state = result.state
    if result.was_running:
        _say(f"stopped the server (pid {state.server_pid}) and {_workers(state.worker_pids)}")
    else:
        _say("the server had already stopped; cleaned up its workers and up.json")


def _absolute(path: str) -> str:
    return path if "://" in path else str(Path(path).expanduser().absolute())


@local_app.command()
def submit(
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
    shot: opt.Shot = None,
    project: opt.Project = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Output root folder (default: the worker's); it must be in the worker's "
            "output_root or ROTOFLOW_OUTPUT_ROOTS.",
        ),
    ] = None,
    deployment: Annotated[
        str, typer.Option(help="Deployment to run, <flow>/<deployment>.")
    ] = "roto-shot/roto-shot",
    wait: Annotated[bool, typer.Option(help="Wait for the run to finish.")] = True,
) -> None:
    """Roto a shot on the Prefect server (PREFECT_API_URL, else the one `rotoflow up` started):
    start a run of the roto-shot deployment, wait for it, print its state and shot folder."""
    from pydantic import ValidationError

    from apps import local
    from rotoflow.errors import RotoflowError
    from rotoflow.pipeline import RotoJob, default_shot_name
    from rotoflow.settings import get_settings
    from tasks.stages.export import check_formats, check_start_frame

    shot_prompts = build_prompts(
        prompt, box, point, negative, frame, name, prompts, mask, all_matches, shapes, shape_name
    )
    for obj in shot_prompts.objects:  # workers run in the repository, not here
        for m in obj.masks:
            m.path = _absolute(m.path)
        for sp in obj.shapes:
            sp.path = _absolute(sp.path)
    try:
        job = RotoJob(
            plate=_absolute(plate),
            prompts=shot_prompts,
            shot=shot,
            project=project,
            models=models,
            detector=detector,
            segmenter=segmenter,
            tracker=tracker,
            matter=matter,
            output_root=_absolute(str(out_dir)) if out_dir else None,
            formats=format_list(formats),
            start_frame=start_frame,
        )
        check_formats(job.formats)
        check_start_frame(job.formats, job.start_frame)
    except ValidationError as exc:
        _fail(f"invalid job: {exc.errors()[0]['msg']}", EXIT_INPUT)
    except RotoflowError as exc:
        _fail(str(exc), EXIT_INPUT)
    settings = get_settings()
    api = local.api_url(settings.home)
    if api is None:
        _fail("no Prefect server: run `rotoflow up`, or set PREFECT_API_URL", EXIT_FAILURE)
    auth = local.api_auth(settings.home, api)
    run_id, state, name = _submit(api, auth, deployment, job, wait)
    ui = f"{api.removesuffix('/').removesuffix('/api')}/runs/flow-run/{run_id}"
    if not wait:
        _say(f"run {name} submitted: {ui}")
        return
    recorded = _job_of_run(settings.resolved_database_url(), run_id)
    shot_name = recorded[0] if recorded else job.shot or default_shot_name(job.plate)
    if state.type.value != "COMPLETED":
        reason = (recorded and recorded[2]) or state.message or state.name
        reason = reason.removeprefix("Flow run encountered an exception: ")
        _fail(f"shot {shot_name}: run {state.name.lower()}: {reason} ({ui})", EXIT_FAILURE)
    where = f": outputs in {recorded[1]}" if recorded and recorded[1] else ""
    _say(f"shot {shot_name} completed{where}")
    _say(f"run: {ui}")


def _submit(api: str, auth: str | None, deployment: str, job, wait: bool):
    """Start the run and, with ``wait``, poll it to a final state, showing it on a spinner."""
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    from apps import local

    run = None
    try:
        with local.prefect_api(api, auth) as client:
            run = run_deployment(
                deployment,
                parameters={"job": job.model_dump(mode="json", exclude_none=True)},
                timeout=0,
                as_subflow=False,
            )
            if not wait:
                return run.id, run.state, run.name
            with err.status(f"run {run.name}: {run.state.name}", spinner="dots") as spinner:
                while run.state is None or run.state.type.value not in FINAL:
                    time.sleep(1)
                    run = client.read_flow_run(run.id)
                    spinner.update(f"run {run.name}: {run.state.name if run.state else '...'}")
    except ObjectNotFound:
        _fail(f"no deployment {deployment!r} on {api}; run `rotoflow up`", EXIT_INPUT)
    except KeyboardInterrupt:
        what = f"run {run.name} ({run.id}) goes on" if run else "the run may have started"
        _fail(f"stopped waiting; {what} on {api}", EXIT_FAILURE)
    except Exception as exc:
        if "httpx" in type(exc).__module__ or isinstance(exc, OSError):
            _fail(f"cannot reach the Prefect server at {api}: {exc}", EXIT_FAILURE)
        raise
    return run.id, run.state, run.name


def _job_of_run(url: str, run_id) -> tuple[str, str | None, str | None] | None:
    """``(shot, shot folder, error)`` of the project database's job of a flow run, if this
    machine's project database recorded it."""
    from sqlmodel import select

    from rotoflow import db

    if url.startswith("sqlite") and not os.path.exists(url.split("///", 1)[-1]):
        return None
    with db.session(url) as s:
        found = s.exec(
            select(db.Job, db.Shot)
            .join(db.Shot, db.Job.shot_id == db.Shot.id)
            .where(db.Job.flow_run_id == str(run_id))
        ).first()
    if found is None:
        return None
    job, shot = found
    return shot.name, (shot.output_dir if job.status == db.Status.done else None), job.error
