"""The roto flow against a running Prefect server (the studio set-up), not the ephemeral API."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import YOLOX
from tests.flows.helpers import api_json, frame_folder

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent


#: The pipeline's stages, in order.
STAGES = ("ingest", "detect", "segment", "propagate", "matte", "vectorize", "export")


def test_cli_run_is_recorded_on_the_server(server, tmp_path):
    plate = frame_folder("car-shadow", tmp_path / "served", range(6))
    env = {
        **os.environ,
        "PREFECT_API_URL": server,
        "ROTOFLOW_HOME": str(tmp_path / "home"),
        "ROTOFLOW_OUTPUT_ROOT": str(tmp_path / "out"),
        "ROTOFLOW_YOLOX_MODEL": str(YOLOX),
    }
    run = subprocess.run(
        [str(BIN / "rotoflow"), "run", str(plate), "--prompt", "car"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "out/default/served/roto/served.nk").is_file()
    flows = api_json("POST", f"{server}/flows/filter", json={})
    assert [f["name"] for f in flows] == ["roto-shot"]
    runs = api_json("POST", f"{server}/flow_runs/filter", json={})
    assert [r["state_type"] for r in runs] == ["COMPLETED"]
    tasks = api_json("POST", f"{server}/task_runs/filter", json={})
    names = {t["task_key"].split("-")[0] for t in tasks}
    completed = {t["name"].rsplit("-", 1)[0] for t in tasks if t["state_type"] == "COMPLETED"}
    assert {*STAGES, "record"} <= completed, (names, completed)
    artifacts = api_json("POST", f"{server}/artifacts/filter", json={})
    progress = [a for a in artifacts if a["type"] == "progress"]
    stage_of = {t["id"]: t["name"].rsplit("-", 1)[0] for t in tasks}
    finished = {stage_of[a["task_run_id"]] for a in progress if a["data"] == 100.0}
    # every stage and the QC keep a progress artifact, at 100% once they are done
    assert finished == {*STAGES, "qc"}, [
        (stage_of.get(a["task_run_id"]), a["data"]) for a in progress
    ]
