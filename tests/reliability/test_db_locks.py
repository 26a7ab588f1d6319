"""A database write lock held by another writer past the lock wait: ``record`` tries again with
backoff and succeeds once the lock is released, and ``record_failure`` under a lock held past every
try logs and returns instead of raising; on SQLite (busy timeout) and PostgreSQL (lock timeout)."""

from __future__ import annotations

import logging
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from rotoflow import db, records
from rotoflow.types import OutputRecord, PlateInfo
from tests.reliability.locks import LOCK_WAIT_S, short_lock_waits, write_lock_held
from tests.rotoflow.test_db_migrations import PROMPT

PLATE = PlateInfo("/p/sh010.%04d.exr", "sequence", 64, 48, 1.0, 24.0, 1001, 1002, "sRGB")


def _job(url: str) -> int:
    return records.open_job(url, "show", "sh010", "/p/sh010.####.exr", [PROMPT], {}, {})


def test_record_waits_out_a_lock_held_past_the_lock_wait(database_url, tmp_path, caplog):
    url = short_lock_waits(database_url)
    job_id = _job(url)
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "car.1001.png").write_bytes(b"mask")
    rows = [OutputRecord("mask", 1, 1001, "masks/car.1001.png")]
    hold = 4 * LOCK_WAIT_S
    caplog.set_level(logging.WARNING, logger="rotoflow.db")
    with write_lock_held(url, hold):
        t0 = time.monotonic()
        n = records.record_outputs(url, job_id, tmp_path, PLATE, rows, {"ingest": 1.0})
        waited = time.monotonic() - t0
    assert n == 1
    assert waited >= hold - 0.2  # it did meet the lock, and outlasted it
    assert "database locked by another writer" in caplog.text
    with db.session(url) as s:
        job, shot = s.get(db.Job, job_id), s.exec(db.select(db.Shot)).one()
        (out,) = s.exec(db.select(db.Output)).all()
    assert (job.status, shot.status, shot.width) == (db.Status.done, db.Status.done, 64)
    assert out.path == str(tmp_path / "masks" / "car.1001.png")


def test_record_failure_under_a_lock_held_past_every_try_does_not_raise(
    database_url, monkeypatch, caplog
):
    url = short_lock_waits(database_url)
    job_id = _job(url)
    monkeypatch.setattr(db, "LOCK_TRIES", 3)
    monkeypatch.setattr(db, "LOCK_BACKOFF_S", 0.1)
    caplog.set_level(logging.WARNING)
    # three tries of LOCK_WAIT_S each and 0.3 s of backoff: the lock outlasts them all
    with write_lock_held(url, 3 * LOCK_WAIT_S + 2.0):
        recorded = records.record_failure(url, job_id, "detect: CUDA out of memory", {})
    assert recorded is False
    assert f"could not record the failure of job {job_id}" in caplog.text
    assert "CUDA out of memory" in caplog.text  # the reason is in the log at least
    with db.session(url) as s:
        job = s.get(db.Job, job_id)
    assert job.status == db.Status.running and job.error is None  # left for reap_crashed


def test_a_lock_error_is_told_from_other_errors(database_url):
    """Only a held lock is tried again: a missing table fails at once."""
    url = short_lock_waits(database_url)
    db.get_engine(url)
    calls = []

    def broken() -> None:
        calls.append(1)
        with db.session(url) as s:
            s.execute(text("SELECT * FROM no_such_table"))

    with pytest.raises(DBAPIError) as raised:
        db.retry_locked(broken, "read a missing table")
    assert not db.is_lock_error(raised.value)
    assert calls == [1]
