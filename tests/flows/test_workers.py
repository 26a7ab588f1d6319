"""The studio set-up on one machine: a real Prefect server, two process workers polling one work
pool, six shots triggered through the ``roto-shot`` deployment (lite models, short DAVIS
sequences): all six finish with their outputs and database rows, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from datetime import datetime

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlmodel import select

from flows.roto_shot import roto_shot
from rotoflow import db
from rotoflow.pipeline import RotoJob
from tests.conftest import REPO, YOLOX
from tests.flows.conftest import BIN
from tests.flows.helpers import frame_folder, gt_box

pytestmark = pytest.mark.e2e

SEQUENCES = ("car-shadow", "dog", "cows", "blackswan", "camel", "drift-chicane")


def _wait(server: str, ids: list[str], timeout: float = 900) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        runs = [httpx.get(f"{server}/flow_runs/{i}").json() for i in ids]
        if all(r["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") for r in runs):
            return runs
        if time.monotonic() > deadline:
            raise TimeoutError([(r["name"], r["state_type"]) for r in runs])
        time.sleep(2)


def test_six_shots_through_two_process_workers(server, database_url, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # the deployment's entrypoint is relative to the repository
    pool = f"shots-{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "PREFECT_API_URL": server,
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "ROTOFLOW_DATABASE_URL": database_url,
        "ROTOFLOW_HOME": str(tmp_path / "home"),
        "ROTOFLOW_OUTPUT_ROOT": str(tmp_path / "out"),
        "ROTOFLOW_YOLOX_MODEL": str(YOLOX),
    }
    with temporary_settings({PREFECT_API_URL: server}):
        with get_client(sync_client=True) as client:
            client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        roto_shot.to_deployment(
            name=pool, work_pool_name=pool, job_variables={"working_dir": str(REPO)}
        ).apply()
        workers = [
            subprocess.Popen(
                [str(BIN / "prefect"), "worker", "start", "--pool", pool, "--limit", "1"],
                env=env,
                cwd=REPO,
                stdout=open(tmp_path / f"worker{n}.log", "wb"),  # noqa: SIM115
                stderr=subprocess.STDOUT,
            )
            for n in range(2)
        ]
        try:
            ids = []
            for seq in SEQUENCES:
                plate = frame_folder(seq, tmp_path / "plates" / seq, range(4))
                prompts = {"objects": [{"id": 1, "name": "object", "boxes": [gt_box(seq)]}]}
                job = RotoJob(plate=str(plate), prompts=prompts, shot=seq, project="show")
                run = run_deployment(
                    f"roto-shot/{pool}",
                    parameters={"job": job.model_dump(mode="json", exclude_none=True)},
                    timeout=0,
                    as_subflow=False,
                )
                ids.append(str(run.id))
            runs = _wait(server, ids)
        finally:
            for w in workers:
                w.terminate()
            for w in workers:
                w.wait(timeout=60)
    logs = "".join(
        (tmp_path / f"worker{n}.log").read_text(errors="replace")[-1500:] for n in (0, 1)
    )
    assert [r["state_type"] for r in runs] == ["COMPLETED"] * 6, logs
    spans = sorted(
        (datetime.fromisoformat(r["start_time"]), datetime.fromisoformat(r["end_time"]))
        for r in runs
    )
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False)), (
        "no two runs overlapped"
    )
    for seq in SEQUENCES:
        assert (tmp_path / "out" / seq / "roto" / f"{seq}.nk").is_file()
        assert len(list((tmp_path / "out" / seq / "masks" / "object").glob("*.png"))) == 4
    with db.session(database_url) as s:
        shots = s.exec(select(db.Shot)).all()
        jobs = s.exec(select(db.Job)).all()
        outputs = s.exec(select(db.Output)).all()
    assert sorted(sh.name for sh in shots) == sorted(SEQUENCES)
    assert {sh.status for sh in shots} == {db.Status.done}
    assert sorted(j.flow_run_id for j in jobs) == sorted(ids)
    assert {j.status for j in jobs} == {db.Status.done}
    assert len(outputs) >= 6 * 9  # 4 masks, 4 alpha mattes and the roto script per shot
