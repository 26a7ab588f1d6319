"""Job records in the project database: open a job, record its outputs, or its failure.

Writes that meet a lock held by another writer are tried again (:func:`rotoflow.db.retry_locked`);
a job opened here carries its worker's heartbeat (:mod:`rotoflow.liveness`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from rotoflow import db
from rotoflow.errors import ExportError, InvalidName, RotoflowError
from rotoflow.files import sha256_file
from rotoflow.liveness import reap_crashed, worker_host
from rotoflow.s3url import is_s3_url
from rotoflow.types import OutputRecord, PlateInfo

log = logging.getLogger(__name__)


def open_job(
    url: str,
    project: str,
    shot: str,
    plate: str,
    objects: list[dict],
    parameters: dict,
    models: dict[str, str],
    flow_run_id: str | None = None,
    plate_signature: str | None = None,
) -> int:
    """Create (or reuse) the project and shot, replace the shot's objects, start a job.

    ``plate_signature`` (:func:`rotoflow.plate.plate_signature`) is recorded with the job,
    so that a batch can tell whether the plate changed since. The shot row is locked
    (:func:`rotoflow.db.lock_shot`) while the job is added, so the new job is the shot's newest
    for every later update. The job records this process as its worker (:func:`worker_host`,
    ``os.getpid()``) with a first heartbeat. Jobs whose worker stopped are marked crashed first
    (:func:`reap_crashed`). A local plate is recorded by its absolute path
    (:func:`rotoflow.db.plate_location`).

    Returns:
        The new job's id.
    """
    try:
        reap_crashed(url)
    except DBAPIError as exc:  # the run goes on; the next one or `rotoflow status` reaps
        log.warning("could not look for crashed jobs: %s", exc.orig)
    plate = db.plate_location(plate)

    def write() -> int:
        with db.session(url) as s:
            p = db.get_or_create_project(s, project)
            sh = db.lock_shot(s, db.get_or_create_shot(s, p, shot, plate).id)
            sh.status, sh.error, sh.updated_at = db.Status.running, None, db.utcnow()
            for old in s.exec(select(db.RotoObject).where(db.RotoObject.shot_id == sh.id)):
                s.delete(old)
            for o in objects:
                s.add(db.RotoObject(shot_id=sh.id, object_id=o["id"], name=o["name"], prompt=o))
            job = db.Job(
                shot_id=sh.id,
                plate_path=plate,
                parameters=parameters,
                models=models,
                flow_run_id=flow_run_id,
                plate_signature=plate_signature,
                heartbeat_at=db.utcnow(),
                host=worker_host(),
                pid=os.getpid(),
            )
            s.add(job)
            s.flush()
            return int(job.id)

    return db.retry_locked(write, f"open a job on shot {shot}")


def _add_outputs(s, job_id: int, shot_id: int, rows: list[OutputRecord], shot_dir: Path) -> None:
    """Add an Output row (with the file's sha256) per record; a file also published to object
    storage is recorded by its ``s3://`` URL (the sha256 is the local file's, the same bytes)."""
    for row in rows:
        path = shot_dir / row.path
        s.add(
            db.Output(
                job_id=job_id,
                shot_id=shot_id,
                object_id=row.object_id,
                kind=row.kind,
                frame=row.frame,
                path=row.url or str(path),
                sha256=sha256_file(path),
                start_frame=row.start_frame,
            )
        )


def record_outputs(
    url: str,
    job_id: int,
    shot_dir: Path,
    plate: PlateInfo,
    rows: list[OutputRecord],
    timings: dict[str, float],
    objects: list[dict] | None = None,
) -> int:
    """Record a finished job: outputs with sha256, timings, plate metadata; job and shot done.

    The shot row is locked while it is updated, and its status, output folder and plate metadata
    follow this job only if it is still the shot's newest (an older run finishing late never
    overwrites a newer one's state). A job marked crashed meanwhile (its heartbeat late) is done
    after all. The write is tried again while another writer holds the database
    (:func:`rotoflow.db.retry_locked`).

    Args:
        rows: One record per published file, its path relative to ``shot_dir``; one that was
            also uploaded carries its ``s3://`` URL (recorded as the output's path).
        objects: The shot's objects as the detect stage resolved them (``id``, ``name``,
            ``prompt``); objects not recorded yet (one text prompt split into every match) are
            added.

    Returns:
        Number of outputs recorded.

    Raises:
        sqlalchemy.exc.DBAPIError: the database stayed locked through every try, or failed
            otherwise.
    """

    def write() -> int:
        with db.session(url) as s:
            job = s.get(db.Job, job_id)
            sh = db.lock_shot(s, job.shot_id)
            job = _fresh_job(s, job_id)
            known = {
                o.object_id
                for o in s.exec(select(db.RotoObject).where(db.RotoObject.shot_id == sh.id))
            }
            for o in objects or []:
                if o["id"] not in known:
                    s.add(
                        db.RotoObject(
                            shot_id=sh.id, object_id=o["id"], name=o["name"], prompt=o["prompt"]
                        )
                    )
            _add_outputs(s, job_id, sh.id, rows, shot_dir)
            job.status, job.error, job.timings = db.Status.done, None, timings
            job.finished_at = db.utcnow()
            if db.latest_job_id(s, sh.id) != job_id:
                return len(rows)
            sh.status, sh.error, sh.output_dir = db.Status.done, None, str(shot_dir)
            sh.updated_at = db.utcnow()
            sh.width, sh.height, sh.pixel_aspect = plate.width, plate.height, plate.pixel_aspect
            sh.fps, sh.first_frame, sh.last_frame = plate.fps, plate.first_frame, plate.last_frame
            sh.colourspace = plate.colourspace
            return len(rows)

    return db.retry_locked(write, f"record job {job_id}")


def _fresh_job(s, job_id: int) -> db.Job:
    """The job row read again (after :func:`rotoflow.db.lock_shot`: what other writers
    committed meanwhile)."""
    return s.exec(
        select(db.Job).where(db.Job.id == job_id).execution_options(populate_existing=True)
    ).one()


def record_export(
    url: str, project: str, shot: str, rows: list[OutputRecord], shot_dir: Path
) -> int:
    """Add re-exported files to the shot's latest finished job.

    Args:
        rows: One record per written file, its path relative to ``shot_dir``; one published to
            object storage carries its ``s3://`` URL.
        shot_dir: The local folder the relative paths are under (the files are read for their
            sha256).

    Returns:
        The job's id.

    Raises:
        ExportError: no finished job of that shot in that project.
    """

    with db.session(url) as s:
        found = s.exec(
            select(db.Job, db.Shot)
            .join(db.Shot, db.Job.shot_id == db.Shot.id)
            .join(db.Project, db.Shot.project_id == db.Project.id)
            .where(db.Project.name == project, db.Shot.name == shot)
            .where(db.Job.status == db.Status.done)
            .order_by(db.Job.id.desc())
        ).first()
        if found is None:
            raise ExportError(f"project {project!r} has no finished shot {shot!r} to export")
        job, sh = found
        _add_outputs(s, job.id, sh.id, rows, shot_dir)
        return int(job.id)


def finished_shapes(url: str, project: str, shot: str) -> str:
    """Where the shapes file (``roto/<shot>.shapes.json``) of the shot's latest finished job is:
    the local path, or the ``s3://`` URL it was published to.

    Raises:
        ExportError: the shot is unknown in the project, has no finished job, or its latest
            finished job recorded no shapes file.
    """

    with db.session(url) as s:
        sh = s.exec(
            select(db.Shot)
            .join(db.Project, db.Shot.project_id == db.Project.id)
            .where(db.Project.name == project, db.Shot.name == shot)
        ).first()
        if sh is None:
            raise ExportError(f"no shot {shot!r} in project {project!r}; see `rotoflow status`")
        job = s.exec(
            select(db.Job)
            .where(db.Job.shot_id == sh.id, db.Job.status == db.Status.done)
            .order_by(db.Job.id.desc())
        ).first()
        if job is None:
            raise ExportError(f"shot {shot!r} has no finished job to export from")
        out = s.exec(
            select(db.Output).where(db.Output.job_id == job.id, db.Output.kind == "shapes")
        ).first()
        if out is None:
            raise ExportError(f"job {job.id} of shot {shot!r} recorded no shapes file")
        return out.path


def finished_shot(url: str, project: str, shot: str) -> tuple[str, range, list[tuple[int, str]]]:
    """The plate a finished shot was rotoed from: its path and frame range as recorded, and the
    shot's objects, ``(object id, name)`` in id order.

    Raises:
        ExportError: the shot is unknown in the project or has no finished job.
    """
    with db.session(url) as s:
        sh = s.exec(
            select(db.Shot)
            .join(db.Project, db.Shot.project_id == db.Project.id)
            .where(db.Project.name == project, db.Shot.name == shot)
        ).first()
        if sh is None:
            raise ExportError(f"no shot {shot!r} in project {project!r}; see `rotoflow status`")
        done = s.exec(
            select(db.Job).where(db.Job.shot_id == sh.id, db.Job.status == db.Status.done)
        ).first()
        if done is None or sh.first_frame is None or sh.last_frame is None:
            raise ExportError(f"shot {shot!r} has no finished job")
        objects = s.exec(select(db.RotoObject).where(db.RotoObject.shot_id == sh.id)).all()
        frames = range(sh.first_frame, sh.last_frame + 1)
        return sh.plate_path, frames, sorted((o.object_id, o.name) for o in objects)


def record_failure(url: str, job_id: int, reason: str, timings: dict[str, float]) -> bool:
    """Mark a job failed with a readable reason, and its shot too if the job is the shot's newest
    (the shot row locked meanwhile, as in :func:`record_outputs`).

    It runs while another error is on its way up, so a database that stays locked through every
    try (:func:`rotoflow.db.retry_locked`) does not raise: the failure is logged and the job left
    running, to be marked crashed by :func:`reap_crashed` once its worker has stopped.

    Returns:
        Whether the failure was recorded.

    Raises:
        sqlalchemy.exc.DBAPIError: a database error other than a held lock.
    """

    def write() -> None:
        with db.session(url) as s:
            job = s.get(db.Job, job_id)
            sh = db.lock_shot(s, job.shot_id)
            job = _fresh_job(s, job_id)
            job.status, job.error, job.timings = db.Status.failed, reason, timings
            job.finished_at = db.utcnow()
            if db.latest_job_id(s, sh.id) != job_id:
                return
            sh.status, sh.error, sh.updated_at = db.Status.failed, reason, db.utcnow()

    try:
        db.retry_locked(write, f"record the failure of job {job_id}")
    except DBAPIError as exc:
        if not db.is_lock_error(exc):
            raise
        log.error(
            "could not record the failure of job %d (database locked through %d tries): %s; "
            "it will be marked crashed once its worker has stopped",
            job_id,
            db.LOCK_TRIES,
            reason,
        )
        return False
    return True


def describe_error(exc: BaseException) -> str:
    """One line for a user: the message of our own errors, ``Type: message`` for others."""

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, RotoflowError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def set_models(url: str, job_id: int, models: dict[str, str]) -> None:
    """Record the model names and versions a job runs with."""

    def write() -> None:
        with db.session(url) as s:
            s.get(db.Job, job_id).models = models

    db.retry_locked(write, f"record the models of job {job_id}")


def check_derived_shot_name(url: str, project: str, shot: str, plate: str) -> None:
    """Refuse a shot name derived from a plate's file name when the project already has that
    shot for another plate: two plates whose names clean to one name (``shöt 01 ✓`` and
    ``shöt 01 ✗``) never silently replace each other's outputs.

    Args:
        url: Project database URL.
        project: Project name.
        shot: The derived shot name.
        plate: The job's plate (a local path, compared resolved, or an ``s3://`` URL).

    Raises:
        InvalidName: The shot exists in the project with another plate; the message says to name
            the shot (``--shot``).
    """

    def same(a: str, b: str) -> bool:
        if is_s3_url(a) or is_s3_url(b):
            return a.rstrip("/") == b.rstrip("/")
        return Path(a).resolve() == Path(b).resolve()

    with db.session(url) as s:
        found = s.exec(
            select(db.Shot)
            .join(db.Project, db.Shot.project_id == db.Project.id)
            .where(db.Project.name == project, db.Shot.name == shot)
        ).first()
    if found is not None and not same(found.plate_path, plate):
        raise InvalidName(
            f"shot {shot!r}, named from plate {plate}, is already project {project!r}'s shot of "
            f"plate {found.plate_path}; name this shot with --shot (the same name to make it a "
            "new version of that shot)"
        )
