"""Liveness of running jobs: a heartbeat while a job runs, and ``crashed`` for a job whose worker
stopped without recording an end (``kill -9``, a lost machine, an out-of-memory kill).

A running job carries the host and process id of its worker and a heartbeat time that a background
thread (:class:`Heartbeat`) renews every tenth of the ``heartbeat_timeout`` setting
(``ROTOFLOW_HEARTBEAT_TIMEOUT``, seconds). :func:`reap_crashed`, called by the next run
(:func:`rotoflow.records.open_job`), by ``rotoflow status`` and by the nightly batch, marks a
running job ``crashed`` when its process is gone from this host, or when its heartbeat is older
than the timeout (a worker on another host); its shot, if that job was the newest, becomes
``crashed`` too, and the nightly batch runs it again; what the job left in its shot folder is
cleaned and a publication it had not recorded withdrawn. No Prefect server is needed.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import update
from sqlmodel import select

from rotoflow import db
from rotoflow.settings import get_settings
from rotoflow.workspace import ShotWorkspace

log = logging.getLogger(__name__)

_INIT_PID_NAMESPACE = 0xEFFFFFFC  # Linux's initial pid namespace (PROC_PID_INIT_INO)


def worker_host() -> str:
    """This process's host as a job records it: the host name, and the pid namespace when it is
    not the host's own (a container), so that process ids are only compared where they mean the
    same process."""
    name = socket.gethostname()
    try:
        ns = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return name
    return name if ns == _INIT_PID_NAMESPACE else f"{name} (pid namespace {ns})"


def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        pass
    return None


_START_SLACK_S = 60.0
"""Seconds a process may seem to have started after its job (``btime`` has whole seconds, and the
clock may have been stepped since): a process id reused sooner than that is taken as the worker."""


def process_alive(pid: int, started_by: datetime) -> bool:
    """Whether process ``pid`` of this host is alive and is the one that started a job at
    ``started_by`` (not a later process given the same id, nor a zombie).

    Args:
        pid: Process id.
        started_by: When the job was opened (the process must have started before).
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return True  # no /proc (not Linux): the signal said it exists
    if fields[0] in ("Z", "X"):
        return False
    boot = _boot_time()
    if boot is None:
        return True
    started = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return started <= _aware(started_by).timestamp() + _START_SLACK_S


def _aware(t: datetime) -> datetime:
    """``t`` as an aware UTC time (SQLite returns the stored UTC times without a zone)."""
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def heartbeat(url: str, job_id: int) -> bool:
    """Renew a running job's heartbeat.

    Returns:
        False when the job is no longer running (it was marked crashed or ended meanwhile).
    """
    with db.session(url) as s:
        done = s.execute(
            update(db.Job)
            .where(db.Job.id == job_id, db.Job.status == db.Status.running)
            .values(heartbeat_at=db.utcnow())
        )
        return done.rowcount == 1


class Heartbeat:
    """A background thread renewing a job's heartbeat every ``interval`` seconds, between
    :meth:`start` and :meth:`stop` (or over a ``with`` block). A beat that fails (database locked
    or unreachable) is logged, and the next one tries again; nothing is raised into the run.

    Args:
        url: The project database.
        job_id: The running job.
        interval: Seconds between beats (well under the ``heartbeat_timeout`` setting).
    """

    def __init__(self, url: str, job_id: int, interval: float) -> None:
        self.url, self.job_id, self.interval = url, job_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"rotoflow-heartbeat-job{job_id}", daemon=True
        )

    def start(self) -> Heartbeat:
        """Start beating; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop beating (waits for a beat in progress, a few seconds at most)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=max(5.0, self.interval))

    def __enter__(self) -> Heartbeat:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self) -> None:
        warned = False
        while not self._stop.wait(self.interval):
            try:
                running = heartbeat(self.url, self.job_id)
            except Exception as exc:  # noqa: BLE001 (a missed beat must not stop the run)
                log.warning("job %d: heartbeat not recorded: %s", self.job_id, exc)
                continue
            if not running and not warned:
                log.warning("job %d is no longer running in the database", self.job_id)
                warned = True


def heartbeat_interval(timeout: float) -> float:
    """Seconds between heartbeats for a ``heartbeat_timeout`` of ``timeout`` seconds: a tenth of
    it, so that several beats can be missed before a live job looks crashed."""
    return max(0.2, timeout / 10)


@dataclass(frozen=True)
class CrashedJob:
    """A job :func:`reap_crashed` marked crashed."""

    job_id: int
    shot_id: int | None
    reason: str


def _crash_reason(job: db.Job, now: datetime, stale_after: float, host: str) -> str | None:
    """Why a running job's worker is taken as stopped, or None while it looks alive: on this host
    its process decides, elsewhere the age of its heartbeat."""
    last = _aware(job.heartbeat_at or job.started_at)
    since = f"{last:%Y-%m-%d %H:%M:%S} UTC"
    worker = f"worker process {job.pid} on host {job.host}" if job.pid else "worker"
    if job.host == host and job.pid:
        if process_alive(job.pid, job.started_at):
            return None
        return f"{worker} stopped (last heartbeat {since})"
    age = (now - last).total_seconds()
    if age > stale_after:
        return f"{worker} stopped (no heartbeat since {since}, {age:.0f} s ago)"
    return None


def reap_crashed(
    url: str,
    *,
    now: datetime | None = None,
    stale_after: float | None = None,
    host: str | None = None,
) -> list[CrashedJob]:
    """Mark the running jobs whose worker stopped as ``crashed``, with a one-line reason.

    A job is taken as crashed when its worker ran on this host (:func:`worker_host`) and its
    process is gone (:func:`process_alive`), or, for a worker on another host, when its last
    heartbeat (its start, for a job from before heartbeats) is more than ``stale_after`` seconds
    old. Its shot becomes ``crashed`` with
    the same reason if the job was the shot's newest. A job that beats, ends or is reaped by
    someone else meanwhile is left as it is (the update is conditional on the state read).

    Args:
        url: The project database.
        now: The present time (default: the clock's), aware.
        stale_after: Seconds without a heartbeat after which a worker on another host is taken as
            stopped (default: the ``heartbeat_timeout`` setting).
        host: This host (default: :func:`worker_host`).

    Returns:
        The jobs marked crashed by this call.

    Raises:
        sqlalchemy.exc.DBAPIError: the database stayed locked through every try, or failed
            otherwise.
    """
    if stale_after is None:
        stale_after = get_settings().heartbeat_timeout
    now = now or db.utcnow()
    host = host or worker_host()
    with db.session(url) as s:
        running = s.exec(select(db.Job).where(db.Job.status == db.Status.running)).all()
    found = [(j, r) for j in running if (r := _crash_reason(j, now, stale_after, host))]
    crashed = []
    for job, reason in found:
        if c := _mark_crashed(url, job, reason, now):
            crashed.append(c)
            _clean_shot(job)
    return crashed


def _clean_shot(job: db.Job) -> None:
    """Remove what a crashed job left in its shot folder (``.partial-`` stage folders) and
    withdraw a publication it had swapped in but not recorded
    (:meth:`rotoflow.workspace.ShotWorkspace.clean_stale`), so nothing it published looks finished.
    A shot folder this host cannot reach is left for the shot's next run."""
    shot_dir = (job.parameters or {}).get("shot_dir")
    if not shot_dir or not job.pid or not job.host:
        return
    owner = f"{job.host.split(' (pid namespace')[0]}-{job.pid}"
    try:
        for p in ShotWorkspace(Path(shot_dir)).clean_stale(gone={owner}):
            log.warning("job %d crashed: removed %s", job.id, p)
    except OSError as exc:
        log.warning(
            "job %d crashed: its shot folder %s was not cleaned (%s)", job.id, shot_dir, exc
        )


def _mark_crashed(url: str, job: db.Job, reason: str, now: datetime) -> CrashedJob | None:
    def write() -> CrashedJob | None:
        with db.session(url) as s:
            if job.shot_id is not None:
                sh = db.lock_shot(s, job.shot_id)
            marked = s.execute(
                update(db.Job)
                .where(
                    db.Job.id == job.id,
                    db.Job.status == db.Status.running,
                    db.Job.heartbeat_at.is_(None)
                    if job.heartbeat_at is None
                    else db.Job.heartbeat_at == job.heartbeat_at,
                )
                .values(status=db.Status.crashed, error=reason, finished_at=now)
            )
            if marked.rowcount != 1:
                return None
            if job.shot_id is not None and db.latest_job_id(s, sh.id) == job.id:
                sh.status, sh.error, sh.updated_at = db.Status.crashed, reason, now
            log.warning("job %d marked crashed: %s", job.id, reason)
            return CrashedJob(int(job.id), job.shot_id, reason)

    return db.retry_locked(write, f"mark job {job.id} crashed")
