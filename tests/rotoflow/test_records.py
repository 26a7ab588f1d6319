"""Job records of one shot from several runs at once: the shot row follows its newest job, and no
update is lost, on SQLite and on PostgreSQL."""

from __future__ import annotations

from rotoflow import db, records
from tests.conftest import at_once
from tests.rotoflow.test_db_migrations import PROMPT


def _shot(url: str) -> db.Shot:
    with db.session(url) as s:
        (shot,) = s.exec(db.select(db.Shot)).all()
        return shot


def test_an_older_run_finishing_late_leaves_the_newer_runs_state(database_url):
    """Run A starts, run B (a re-run) starts, A fails late: the shot stays running for B, and then
    shows B's result; A's job row keeps its own failure."""
    a = records.open_job(database_url, "show", "sh010", "/p/sh010.mov", [PROMPT], {}, {})
    b = records.open_job(database_url, "show", "sh010", "/p/sh010.mov", [PROMPT], {}, {})
    records.record_failure(database_url, a, "A was cancelled", {})
    assert _shot(database_url).status == db.Status.running
    records.record_failure(database_url, b, "B: box outside the frame", {})
    shot = _shot(database_url)
    assert (shot.status, shot.error) == (db.Status.failed, "B: box outside the frame")
    with db.session(database_url) as s:
        assert s.get(db.Job, a).error == "A was cancelled"


def test_concurrent_runs_of_one_shot_lose_no_update(database_url):
    """Eight workers each open a job on the same shot and record its failure, all at once: every
    job row has its own reason and the shot ends with its newest job's."""
    db.get_engine(database_url)

    def worker(n: int) -> None:
        job = records.open_job(
            database_url, "show", "sh010", "/p/sh010.mov", [PROMPT], {"n": n}, {}
        )
        records.record_failure(database_url, job, f"job {job} failed", {"n": n})

    errors = at_once(worker, 8)
    assert errors == []
    with db.session(database_url) as s:
        jobs = s.exec(db.select(db.Job)).all()
    assert len(jobs) == 8
    assert all(j.error == f"job {j.id} failed" and j.status == db.Status.failed for j in jobs)
    newest = max(j.id for j in jobs)
    shot = _shot(database_url)
    assert (shot.status, shot.error) == (db.Status.failed, f"job {newest} failed")


def test_plates_are_recorded_by_absolute_path(database_url, tmp_path, monkeypatch):
    """A plate given relative to the working folder is recorded absolute (shot and job), so that
    the nightly batch finds it from any folder; an s3:// URL is kept as it is."""
    monkeypatch.chdir(tmp_path)
    local = records.open_job(
        database_url, "show", "sh010", "plates/sh010.####.exr", [PROMPT], {}, {}
    )
    remote = records.open_job(database_url, "show", "sh020", "s3://bucket/sh020/", [PROMPT], {}, {})
    with db.session(database_url) as s:
        jobs = {j.id: j for j in s.exec(db.select(db.Job))}
        shots = {sh.name: sh for sh in s.exec(db.select(db.Shot))}
    expected = str(tmp_path / "plates" / "sh010.####.exr")
    assert jobs[local].plate_path == shots["sh010"].plate_path == expected
    assert jobs[remote].plate_path == shots["sh020"].plate_path == "s3://bucket/sh020/"
    with db.session(database_url) as s:  # a shot filed without a job (a watched folder)
        project = db.get_or_create_project(s, "show")
        assert db.get_or_create_shot(s, project, "sh030", "../sh030.mov").plate_path == str(
            tmp_path.parent / "sh030.mov"
        )
