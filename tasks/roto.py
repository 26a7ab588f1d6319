"""Thin Prefect tasks around the stages: retries for transient I/O only, cache keys from
:func:`rotoflow.pipeline.stage_keys`, small JSON results (folder references, never frames)."""

from __future__ import annotations

import errno
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from models.registry import load_model_set
from renders import RenderOptions, parse_colour
from rotoflow import liveness, objectstore, records
from rotoflow.errors import StorageError
from rotoflow.pipeline import ResolvedJob, StageKeys, input_digests, stage_keys
from rotoflow.plate import plate_fingerprint
from rotoflow.settings import get_settings
from rotoflow.workspace import ShotWorkspace, StageOutput, publish_tree, shot_lock
from tasks.progress import prefect_progress
from tasks.stages import detect, export, ingest, matte, propagate, render, segment, vectorize

_NOT_TRANSIENT = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)
_NOT_TRANSIENT_ERRNO = {errno.ENAMETOOLONG, errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EINVAL}


def transient_only(task, task_run, state) -> bool:
    """Retry an I/O hiccup (an ``OSError`` other than a missing or forbidden file, a name too
    long, a full disk or quota, a read-only file system), nothing else."""
    try:
        state.result()
    except _NOT_TRANSIENT:
        return False
    except OSError as exc:
        return exc.errno not in _NOT_TRANSIENT_ERRNO
    except BaseException:
        return False
    return False


stage_task = task(
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=transient_only,
)
"""A stage task. Prefect caches nothing: each stage reuses a finished folder of the same key in
the shot's own workspace (:meth:`rotoflow.workspace.ShotWorkspace.finished`), so a result can never
point into another shot's folders, nor at a folder that is gone."""


def _ws(job: ResolvedJob) -> ShotWorkspace:
    return ShotWorkspace(Path(job.shot_dir))


def _models(job: ResolvedJob):
    return load_model_set(job)


def _plate_signature(plate: str) -> str | None:
    """The plate's signature, or None when object storage cannot be read now (the fetch that
    follows reports why)."""
    try:
        return objectstore.plate_signature(plate, get_settings())
    except StorageError:
        return None


@task(name="open-job", cache_policy=NO_CACHE)
def open_job(job: ResolvedJob) -> int:
    """Record the shot, its objects and a running job (its parameters without the database URL);
    returns the job id.

    Raises:
        InvalidName: The shot's name was derived from the plate's and the project already has a
            shot of that name for another plate.
    """
    if job.shot_from_plate:
        records.check_derived_shot_name(
            job.database_url.get_secret_value(), job.project, job.shot, job.plate
        )
    return records.open_job(
        job.database_url.get_secret_value(),
        job.project,
        job.shot,
        job.plate,
        [o.model_dump(mode="json") for o in job.prompts.objects],
        job.model_dump(mode="json", exclude={"database_url"}),
        {},
        flow_run_id=str(flow_run.get_id()) if flow_run.get_id() else None,
        plate_signature=_plate_signature(job.plate),
    )


@task(name="plan", cache_policy=NO_CACHE)
def plan(job: ResolvedJob, job_id: int) -> StageKeys:
    """Load the model set and compute every stage's cache key (the plate's identity, the content
    of every other input file, models, parameters); record model provenance. What killed runs of
    this shot left behind is cleaned first (:meth:`~rotoflow.workspace.ShotWorkspace.clean_stale`).
    """
    ws = _ws(job)
    ws.check()
    for p in ws.clean_stale():
        get_run_logger().info("removed %s, left by a run that stopped", p)
    models = _models(job)
    provenance = models.provenance()
    records.set_models(
        job.database_url.get_secret_value(),
        job_id,
        {**provenance, **{f"{s}_sha256": c for s, c in models.checksums.items()}},
    )
    return stage_keys(
        plate_fingerprint(job.plate),
        job.prompts,
        provenance,
        job.settings_used(),
        job.shot,
        input_digests(job.prompts, job.ocio_config),
    )


@stage_task(name="ingest")
def ingest_task(job: ResolvedJob, keys: StageKeys) -> StageOutput:
    with prefect_progress("ingest"):
        return ingest.run(
            job.plate,
            job.prompts,
            _ws(job),
            keys.ingest,
            movie_first_frame=job.movie_first_frame,
            ocio_config=job.ocio_config,
        )


@stage_task(name="detect")
def detect_task(job: ResolvedJob, keys: StageKeys, ing: StageOutput) -> StageOutput:
    with prefect_progress("detect"):
        return detect.run(
            job.prompts,
            ing,
            _ws(job),
            keys.detect,
            _models(job).detector,
            max_objects=job.max_objects,
        )


@stage_task(name="segment")
def segment_task(
    job: ResolvedJob, keys: StageKeys, ing: StageOutput, det: StageOutput
) -> StageOutput:
    with prefect_progress("segment"):
        return segment.run(ing, det, _ws(job), keys.segment, _models(job).segmenter)


@stage_task(name="propagate")
def propagate_task(
    job: ResolvedJob, keys: StageKeys, ing: StageOutput, det: StageOutput, seg: StageOutput
) -> StageOutput:
    models = _models(job)
    with prefect_progress("propagate"):
        return propagate.run(
            ing, det, seg, _ws(job), keys.propagate, models.tracker, models.detector
        )


@stage_task(name="matte")
def matte_task(
    job: ResolvedJob, keys: StageKeys, ing: StageOutput, prop: StageOutput
) -> StageOutput:
    with prefect_progress("matte"):
        return matte.run(ing, prop, _ws(job), keys.matte, _models(job).matter)


@stage_task(name="vectorize")
def vectorize_task(
    job: ResolvedJob,
    keys: StageKeys,
    ing: StageOutput,
    det: StageOutput,
    prop: StageOutput,
    mat: StageOutput,
) -> StageOutput:
    with prefect_progress("vectorize"):
        return vectorize.run(
            ing,
            det,
            prop,
            mat,
            _ws(job),
            keys.vectorize,
            min_area=job.shape_min_area,
            min_frames=job.shape_min_frames,
            max_loss=job.shape_max_loss,
            tolerance=job.shape_tolerance,
        )


@stage_task(name="render")
def render_task(
    job: ResolvedJob,
    keys: StageKeys,
    ing: StageOutput,
    prop: StageOutput,
    mat: StageOutput,
) -> StageOutput | None:
    """The job's renders (:mod:`tasks.stages.render`), or None when it asks for none."""
    if not job.renders or keys.render is None:
        return None
    with prefect_progress("render"):
        return render.run(
            ing,
            prop,
            mat,
            _ws(job),
            keys.render,
            job.shot,
            job.renders,
            job.render_objects or None,
            RenderOptions(key_colour=parse_colour(job.key_colour)),
        )


@task(
    name="export",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=transient_only,
)
def export_task(
    job: ResolvedJob,
    keys: StageKeys,
    ing: StageOutput,
    prop: StageOutput,
    mat: StageOutput,
    vec: StageOutput,
) -> StageOutput:
    """Write the roto formats and list the shot's outputs (published by :func:`record`)."""
    with prefect_progress("export"):
        return export.run(
            job.shot, ing, prop, mat, vec, _ws(job), keys.export, job.formats, job.start_frame
        )


@task(
    name="record",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=transient_only,
)
def record(
    job: ResolvedJob,
    job_id: int,
    ing: StageOutput,
    det: StageOutput,
    exp: StageOutput,
    timings: dict[str, float],
    extra_sources: dict[str, str] | None = None,
) -> int:
    """Publish the shot's outputs and record them (with sha256), marking the job and shot done.

    Publication is the job's last step, after everything else that can fail, and is held under
    the shot's lock (:func:`rotoflow.workspace.shot_lock`): runs of one shot publish one at a time.
    If recording fails (the database locked past its retries, a full disk) the publication is
    withdrawn and the earlier one put back, so nothing published looks finished unless the job
    finished.

    Args:
        extra_sources: More files to publish, relative path -> stage file (QC's).
    """
    objects = [
        {"id": o.id, "name": o.name, "prompt": {"parent": o.parent, "keyframes": len(o.keyframes)}}
        for o in detect.load(det)
    ]
    ws = _ws(job)
    sources = export.sources(exp)
    sources.update({rel: Path(src) for rel, src in (extra_sources or {}).items()})
    with shot_lock(ws):
        pub = publish_tree(sources, ws.root)
        try:
            n = records.record_outputs(
                job.database_url.get_secret_value(),
                job_id,
                ws.root,
                ingest.plate_info(ing),
                exp.outputs(),
                timings,
                objects,
            )
        except BaseException:
            pub.withdraw()
            raise
        pub.commit()
    get_run_logger().info("recorded %d outputs for shot %s (job %d)", n, job.shot, job_id)
    return n


@task(name="record-failure", cache_policy=NO_CACHE)
def record_failure(job: ResolvedJob, job_id: int, reason: str, timings: dict[str, float]) -> None:
    """Mark the job and shot failed with a one-line reason (a database locked through every try
    is logged, and the job left to be marked crashed: see :func:`rotoflow.records.record_failure`).
    """
    records.record_failure(job.database_url.get_secret_value(), job_id, reason, timings)


def start_heartbeat(job: ResolvedJob, job_id: int) -> liveness.Heartbeat:
    """Start renewing the running job's heartbeat in a background thread (every tenth of the
    ``heartbeat_timeout`` setting); call ``stop()`` on the result when the run ends."""
    interval = liveness.heartbeat_interval(job.heartbeat_timeout)
    return liveness.Heartbeat(job.database_url.get_secret_value(), job_id, interval).start()
