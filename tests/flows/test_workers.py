"""The studio set-up on one machine: a real Prefect server, two process workers polling one work
pool, six shots triggered through the ``roto-shot`` deployment (lite models, short DAVIS
sequences): all six finish with their outputs and database rows, on SQLite and on PostgreSQL.
The server holds a one-slot ``rotoflow-gpu`` limit: only the model stages take it, no two hold it at
once, and the runs still overlap (their other stages go on alongside)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid
from datetime import datetime

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, WorkPoolCreate
from prefect.client.schemas.filters import (
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectAlreadyExists
from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlmodel import select

from flows.gpu import GPU_LIMIT
from flows.roto_shot import roto_shot
from rotoflow import db
from rotoflow.pipeline import RotoJob
from tests.conftest import REPO, YOLOX
from tests.flows.conftest import BIN
from tests.flows.helpers import api_json, frame_folder, gt_box

pytestmark = pytest.mark.e2e

SEQUENCES = ("car-shadow", "dog", "cows", "blackswan", "camel", "drift-chicane")


def _wait(server: str, ids: list[str], timeout: float = 900) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        runs = [api_json("GET", f"{server}/flow_runs/{i}") for i in ids]
        if all(r["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") for r in runs):
            return runs
        if time.monotonic() > deadline:
            raise TimeoutError([(r["name"], r["state_type"]) for r in runs])
        time.sleep(2)


def _read_logs(client, ids: list[str], timeout: float = 60) -> list:
    """Every log line of the given flow runs (the API answers 200 at a time), once every slot
    taken has been given back in the logs (a run's last lines can reach the server after its
    final state)."""
    flt = LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids))
    deadline = time.monotonic() + timeout
    while True:
        logs: list = []
        while page := client.read_logs(log_filter=flt, limit=200, offset=len(logs)):
            logs += page
        text = [lg.message for lg in logs]
        taken = sum(m.startswith("gpu slot taken") for m in text)
        back = sum(m.startswith("gpu slot given back") for m in text)
        if taken == back or time.monotonic() > deadline:
            return logs
        time.sleep(1)


def _gpu_holds(logs) -> list[tuple[datetime, datetime, str, str]]:
    """(taken, given back, flow run, stage) of every GPU slot hold, from the runs' logs."""
    taken, spans = {}, []
    for log in sorted(logs, key=lambda lg: lg.timestamp):
        words = log.message.split()
        if log.message.startswith("gpu slot taken by "):
            taken[(log.flow_run_id, words[4])] = log.timestamp
        elif log.message.startswith("gpu slot given back by "):
            start = taken.pop((log.flow_run_id, words[5]))
            spans.append((start, log.timestamp, str(log.flow_run_id), words[5]))
    assert not taken, taken
    return spans


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
            with contextlib.suppress(ObjectAlreadyExists):  # the server serves both databases
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=GPU_LIMIT, limit=1)
                )
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
            with get_client(sync_client=True) as client:
                logs = _read_logs(client, ids)
        finally:
            for w in workers:
                w.terminate()
            for w in workers:
                w.wait(timeout=60)
    worker_logs = "".join(
        (tmp_path / f"worker{n}.log").read_text(errors="replace")[-1500:] for n in (0, 1)
    )
    assert [r["state_type"] for r in runs] == ["COMPLETED"] * 6, worker_logs
    held = _gpu_holds(logs)
    assert len(held) == 6 * 4, held  # detect, segment, propagate and matte of every shot
    held.sort()
    for (_, end, run, stage), (start, _, run2, stage2) in zip(held, held[1:], strict=False):
        assert start >= end, f"{stage} of {run} and {stage2} of {run2} held the GPU slot at once"
    # only the model stages hold the slot: the CPU stages of one shot run while another holds it
    assert {stage for *_, stage in held} == {"detect", "segment", "propagate", "matte"}
    spans = sorted(
        (datetime.fromisoformat(r["start_time"]), datetime.fromisoformat(r["end_time"]))
        for r in runs
    )
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False)), (
        "no two runs overlapped"
    )
    for seq in SEQUENCES:
        assert (tmp_path / "out" / "show" / seq / "roto" / f"{seq}.nk").is_file()
        assert len(list((tmp_path / "out" / "show" / seq / "masks" / "object").glob("*.png"))) == 4
    with db.session(database_url) as s:
        shots = s.exec(select(db.Shot)).all()
        jobs = s.exec(select(db.Job)).all()
        outputs = s.exec(select(db.Output)).all()
    assert sorted(sh.name for sh in shots) == sorted(SEQUENCES)
    assert {sh.status for sh in shots} == {db.Status.done}
    assert sorted(j.flow_run_id for j in jobs) == sorted(ids)
    assert {j.status for j in jobs} == {db.Status.done}
    assert len(outputs) >= 6 * 9  # 4 masks, 4 alpha mattes and the roto script per shot
