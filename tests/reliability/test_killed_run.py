"""A ``rotoflow run`` killed with SIGKILL in the middle of propagation leaves its job running;
``rotoflow status`` marks it crashed with the reason, and a re-run completes the shot."""

from __future__ import annotations

import os
import signal
import time

import pytest
from typer.testing import CliRunner

from apps.cli import app
from rotoflow import db
from rotoflow.settings import get_settings
from tests.flows.helpers import frame_folder, gt_box
from tests.reliability.runs import run_env, start_run

pytestmark = pytest.mark.e2e

FRAMES = 24


def _jobs(url: str) -> list[tuple[db.Job, db.Shot]]:
    with db.session(url) as s:
        return s.exec(db.select(db.Job, db.Shot).join(db.Shot).order_by(db.Job.id)).all()


def test_a_run_killed_mid_propagation_is_marked_crashed_and_runs_again(tmp_path, monkeypatch):
    plate = frame_folder("dog", tmp_path / "dog", range(FRAMES))
    b = gt_box("dog")
    args = [str(plate), "--box", f"{b['x0']},{b['y0']},{b['x1']},{b['y1']}"]
    env = run_env(tmp_path)
    work = tmp_path / "out" / "default" / "dog" / ".rotoflow"
    run = start_run(args, env, tmp_path / "run1.log")
    try:
        deadline = time.monotonic() + 300
        while not list(work.glob("propagate-*.partial*")):
            if run.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"propagation never started: {(tmp_path / 'run1.log').read_text()[-3000:]}"
                )
            time.sleep(0.05)
    finally:
        os.killpg(run.pid, signal.SIGKILL)  # the run and its temporary Prefect server
        run.wait()
    for name in ("ROTOFLOW_HOME", "ROTOFLOW_OUTPUT_ROOT", "ROTOFLOW_YOLOX_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ROTOFLOW_HOME", env["ROTOFLOW_HOME"])
    get_settings.cache_clear()
    try:
        url = get_settings().resolved_database_url()
        ((job, shot),) = _jobs(url)
        assert job.status == shot.status == db.Status.running  # what the kill left
        assert job.pid == run.pid and not (tmp_path / "out" / "default" / "dog" / "masks").exists()

        status = CliRunner().invoke(app, ["status"], catch_exceptions=False)
        assert status.exit_code == 0, status.output
        ((job, shot),) = _jobs(url)
        assert job.status == shot.status == db.Status.crashed
        assert job.error == shot.error
        assert job.error.startswith(f"worker process {run.pid} on host ")
        assert "stopped (last heartbeat " in job.error
        assert f"job {job.id} crashed: {job.error}" in status.stderr
        assert "crashed" in status.stdout

        rerun = start_run(args, env, tmp_path / "run2.log")
        assert rerun.wait(timeout=400) == 0, (tmp_path / "run2.log").read_text()[-3000:]
        (first, (job2, shot)) = _jobs(url)
        assert first[0].status == db.Status.crashed
        assert job2.status == shot.status == db.Status.done
        masks = tmp_path / "out" / "default" / "dog" / "masks" / "object1"
        assert len(list(masks.glob("*.png"))) == FRAMES
        assert not list(work.glob("*.partial*"))
    finally:
        get_settings.cache_clear()
