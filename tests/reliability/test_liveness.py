"""Jobs whose worker stopped without recording an end are marked crashed, with the reason, and
only those: a gone process on this host at once, a silent worker on another host only after the
heartbeat timeout; and the nightly batch runs a crashed shot again. SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta

from flows.batch import shots_to_run
from rotoflow import db, liveness, records
from rotoflow.plate import plate_signature
from tests.flows.helpers import frame_folder
from tests.rotoflow.test_db_migrations import PROMPT


def _open(url: str, plate: str = "/p/sh010.mov", **worker) -> int:
    """A running job of shot sh010, with its worker's fields (host, pid, heartbeat_at) set."""
    job_id = records.open_job(url, "show", "sh010", plate, [PROMPT], {"models": "lite"}, {})
    if worker:
        with db.session(url) as s:
            job = s.get(db.Job, job_id)
            for name, value in worker.items():
                setattr(job, name, value)
    return job_id


def _rows(url: str, job_id: int) -> tuple[db.Job, db.Shot]:
    with db.session(url) as s:
        job = s.get(db.Job, job_id)
        return job, s.get(db.Shot, job.shot_id)


def test_a_silent_worker_on_another_host_is_reaped_only_after_the_timeout(database_url):
    beat = db.utcnow() - timedelta(hours=1)
    job_id = _open(database_url, host="render07", pid=4242, heartbeat_at=beat)
    assert (
        liveness.reap_crashed(database_url, now=beat + timedelta(seconds=299), stale_after=300)
        == []
    )
    assert _rows(database_url, job_id)[0].status == db.Status.running
    (crashed,) = liveness.reap_crashed(
        database_url, now=beat + timedelta(seconds=301), stale_after=300
    )
    job, shot = _rows(database_url, job_id)
    assert crashed.job_id == job_id and crashed.reason == job.error == shot.error
    assert (job.status, shot.status) == (db.Status.crashed, db.Status.crashed)
    assert job.error.startswith("worker process 4242 on host render07 stopped (no heartbeat since ")
    assert "\n" not in job.error and job.finished_at is not None
    # reaped once: a second pass finds nothing
    assert liveness.reap_crashed(database_url, stale_after=300) == []


def test_a_gone_process_on_this_host_is_reaped_at_once(database_url):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    job_id = _open(database_url, pid=gone.pid)  # this host, a fresh heartbeat
    (crashed,) = liveness.reap_crashed(database_url, stale_after=3600)
    job, shot = _rows(database_url, job_id)
    assert job.status == shot.status == db.Status.crashed
    assert f"worker process {gone.pid} on host {liveness.worker_host()} stopped" in job.error


def test_a_live_worker_on_this_host_is_left_running(database_url):
    """This test's own process opened the job: alive, so even a stale heartbeat is no crash."""
    job_id = _open(database_url, heartbeat_at=db.utcnow() - timedelta(hours=2))
    assert liveness.reap_crashed(database_url, stale_after=60) == []
    job, shot = _rows(database_url, job_id)
    assert (job.host, job.pid) == (liveness.worker_host(), os.getpid())
    assert job.status == shot.status == db.Status.running


def test_a_process_id_given_to_a_later_process_is_not_the_worker(database_url):
    """A job of a day ago whose process id now belongs to a younger process (this one)."""
    day_ago = db.utcnow() - timedelta(days=1)
    job_id = _open(database_url, started_at=day_ago, heartbeat_at=day_ago)
    (crashed,) = liveness.reap_crashed(database_url, stale_after=10**9)
    assert crashed.job_id == job_id and f"process {os.getpid()}" in crashed.reason


def test_the_next_run_reaps_and_a_crashed_older_job_leaves_the_newer_jobs_shot(database_url):
    """A re-run opens its job (and marks the silent older one crashed); the older one, reaped
    again later, never touches the shot, which follows the re-run."""
    beat = db.utcnow() - timedelta(hours=1)
    old = _open(database_url, host="render07", pid=1, heartbeat_at=beat)
    new = _open(database_url)  # the re-run, alive in this process
    assert _rows(database_url, old)[0].status == db.Status.crashed
    job, shot = _rows(database_url, new)
    assert job.status == shot.status == db.Status.running and shot.error is None
    with db.session(database_url) as s:  # an older job found stale only now
        s.get(db.Job, old).status = db.Status.running
    (crashed,) = liveness.reap_crashed(database_url, stale_after=300)
    assert crashed.job_id == old
    job, shot = _rows(database_url, new)
    assert job.status == shot.status == db.Status.running and shot.error is None


def test_the_heartbeat_thread_renews_a_running_job_only(database_url):
    job_id = _open(database_url)
    first = _rows(database_url, job_id)[0].heartbeat_at
    with liveness.Heartbeat(database_url, job_id, interval=0.1):
        deadline = time.monotonic() + 20
        while _rows(database_url, job_id)[0].heartbeat_at == first:
            assert time.monotonic() < deadline, "no heartbeat in 20 s"
            time.sleep(0.1)
    records.record_failure(database_url, job_id, "stopped", {})
    assert liveness.heartbeat(database_url, job_id) is False  # an ended job does not beat


def test_the_batch_runs_a_crashed_shot_again(database_url, tmp_path):
    """The shot's last run stopped (a worker on another host, silent for an hour): the batch
    marks it crashed and selects it, with the plate signature unchanged."""
    plate = str(frame_folder("dog", tmp_path / "dog", range(2)))
    beat = db.utcnow() - timedelta(hours=1)
    job_id = _open(database_url, plate=plate, host="render07", pid=77, heartbeat_at=beat)
    with db.session(database_url) as s:
        s.get(db.Job, job_id).plate_signature = plate_signature(plate)
    (entry,) = shots_to_run(database_url)
    assert (entry.shot, entry.reason) == ("sh010", "crashed")
    assert entry.job.plate == plate and entry.job.models == "lite"
    assert _rows(database_url, job_id)[0].status == db.Status.crashed
    assert shots_to_run(database_url)[0].reason == "crashed"  # still due until it runs
