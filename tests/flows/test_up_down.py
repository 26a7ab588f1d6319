"""``rotoflow up`` / ``submit`` / ``down`` as a user runs them (the real command, in subprocesses):
a local Prefect server with its database under the Rotoflow home, the work pool, the GPU limit and
the deployments of ``deployments/prefect.yaml``; one shot rotoed through the server; everything
stopped and the port free afterwards. The API asks for the auth string that ``up`` generates
(401 without it), and a run asking for an output root outside the worker's allow-list fails with
the reason. Idempotent ``up``, ``down`` with nothing up, a stale ``up.json`` and a submit with no
server are checked too."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time

import httpx
import pytest
import yaml
from prefect.workers.process import ProcessWorker
from sqlmodel import select
from typer.testing import CliRunner

from apps import local, procs
from apps.cli import app
from rotoflow import db
from rotoflow.settings import get_settings
from tests.conftest import REPO, YOLOX, free_port
from tests.flows.conftest import BIN
from tests.flows.helpers import api_json, frame_folder, gt_box

pytestmark = pytest.mark.e2e

SPEC = yaml.safe_load((REPO / "deployments" / "prefect.yaml").read_text(encoding="utf-8"))
LOCAL = {  # the deployments on the process pool that need no folder to watch
    d["name"]: d
    for d in SPEC["deployments"]
    if d["work_pool"]["name"] == local.WORK_POOL and "{{" not in json.dumps(d)
}


def _env(home) -> dict[str, str]:
    env = {
        **os.environ,
        "ROTOFLOW_HOME": str(home),
        "ROTOFLOW_OUTPUT_ROOT": str(home / "out"),
        "ROTOFLOW_YOLOX_MODEL": str(YOLOX),
        "PREFECT_WORKER_QUERY_SECONDS": "1",  # workers pick runs up at once
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",  # `up` passes it to the server
    }
    for name in ("PREFECT_API_URL", "ROTOFLOW_WATCH_FOLDER"):
        env.pop(name, None)
    return env


def rotoflow(env, *args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "rotoflow"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def _box(seq: str) -> str:
    b = gt_box(seq)
    return ",".join(str(float(b[k])) for k in ("x0", "y0", "x1", "y1"))


def scheduled_runs(api: str, deployment_id: str, timeout: float, auth) -> list[dict]:
    """The SCHEDULED flow runs of a deployment, once the server's scheduler has created some
    (empty after ``timeout`` seconds)."""
    query = {
        "flow_runs": {
            "deployment_id": {"any_": [deployment_id]},
            "state": {"type": {"any_": ["SCHEDULED"]}},
        }
    }
    deadline = time.monotonic() + timeout
    while True:
        runs = api_json("POST", f"{api}/flow_runs/filter", json=query, auth=auth)
        if runs or time.monotonic() > deadline:
            return runs
        time.sleep(1)


def test_up_submit_down(tmp_path):
    home = tmp_path / "home"
    data = home / "prefect"
    env = _env(home)
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    plate = frame_folder("dog", tmp_path / "plates" / "dog", range(4))
    try:
        first = rotoflow(env, "up", "--port", str(port), "--gpu-slots", "2")
        assert first.returncode == 0, first.stderr[-3000:]
        assert f"UI: http://127.0.0.1:{port}" in first.stdout
        assert f"export PREFECT_API_URL={api}" in first.stdout
        auth_file = data / "api-auth"
        assert f'export PREFECT_API_AUTH_STRING="$(cat {auth_file})"' in first.stdout
        assert stat.S_IMODE(auth_file.stat().st_mode) == 0o600
        secret = auth_file.read_text().strip()
        user, _, password = secret.partition(":")
        auth = (user, password)
        assert user == "rotoflow" and len(password) >= 40
        assert "deployment watch-folder not registered" in first.stdout  # no folder to watch
        for spec in SPEC["deployments"]:
            if spec["name"] not in LOCAL:
                assert f"deployment {spec['name']} not registered" in first.stdout
        assert (data / "prefect.db").is_file() and (data / "server.log").is_file()
        state = json.loads((data / "up.json").read_text())
        assert state["api_url"] == api and len(state["worker_pids"]) == 1
        pids = [state["server_pid"], *state["worker_pids"]]

        # the API asks for the auth string (the health probe excepted); the UI says so
        deployments_filter = f"{api}/deployments/filter"
        assert httpx.post(deployments_filter, json={}, timeout=30).status_code == 401
        wrong = (user, password[::-1])
        assert httpx.post(deployments_filter, json={}, auth=wrong, timeout=30).status_code == 401
        assert httpx.post(deployments_filter, json={}, auth=auth, timeout=30).status_code == 200
        assert httpx.get(f"{api}/health", timeout=30).status_code == 200
        ui_settings = httpx.get(f"http://127.0.0.1:{port}/ui-settings", timeout=30).json()
        assert ui_settings["auth"] == "BASIC"
        # the secret is in no command line (`ps` shows those), no log and not in up.json
        for pid in pids:
            assert secret not in (procs.command_line(pid) or "")
        for name in ("up.json", "server.log", "worker-1.log"):
            assert secret not in (data / name).read_text(errors="replace"), name

        pool = api_json("GET", f"{api}/work_pools/{local.WORK_POOL}", auth=auth)
        assert pool["type"] == "process" and pool["concurrency_limit"] == 1
        # made with the process worker's template, so no worker has to write it on connecting
        assert pool["base_job_template"] == ProcessWorker.get_default_base_job_template()
        limit = api_json("GET", f"{api}/v2/concurrency_limits/{local.GPU_LIMIT}", auth=auth)
        assert limit["limit"] == 2 and limit["active"]
        workers = api_json(
            "POST", f"{api}/work_pools/{local.WORK_POOL}/workers/filter", json={}, auth=auth
        )
        assert [w["status"] for w in workers] == ["ONLINE"]
        found = api_json("POST", deployments_filter, json={}, auth=auth)
        deployments = {d["name"]: d for d in found}
        assert set(deployments) == set(LOCAL) >= {"roto-shot", "nightly-batch"}
        for spec in LOCAL.values():
            d = deployments[spec["name"]]
            assert d["entrypoint"] == spec["entrypoint"]
            assert d["description"] == spec["description"]
            assert d["work_pool_name"] == spec["work_pool"]["name"]
            assert d["work_queue_name"] == spec["work_pool"]["work_queue_name"]
            assert d["job_variables"]["working_dir"] == str(REPO)
        assert "RotoJob" in deployments["roto-shot"]["parameter_openapi_schema"]["definitions"]
        (nightly,) = deployments["nightly-batch"]["schedules"]
        assert nightly["schedule"]["cron"] == SPEC["definitions"]["schedules"]["nightly"]["cron"]
        # the server's scheduler creates its runs (under SQLAlchemy 2.1 its bulk insert failed)
        runs = scheduled_runs(api, deployments["nightly-batch"]["id"], timeout=60, auth=auth)
        server_log = (data / "server.log").read_text(errors="replace")
        assert runs, f"no scheduled nightly-batch run; end of server.log:\n{server_log[-3000:]}"
        assert "Can't evaluate bulk DML" not in server_log, server_log[-3000:]
        assert "Traceback" not in server_log, server_log[-3000:]
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=30).status_code == 200  # the UI

        again = rotoflow(env, "up", "--port", str(port))
        assert again.returncode == 0 and "already up" in again.stdout, again.stderr
        assert json.loads((data / "up.json").read_text())["server_pid"] == state["server_pid"]

        # PREFECT_API_URL is unset: submit finds the server through up.json
        run = rotoflow(env, "submit", str(plate), "--box", _box("dog"), "--name", "dog")
        assert run.returncode == 0, run.stdout + run.stderr[-3000:]
        shot_dir = home / "out" / "default" / "dog"
        assert f"shot dog completed: outputs in {shot_dir}" in run.stdout
        assert len(list((shot_dir / "masks" / "dog").glob("*.png"))) == 4
        assert (shot_dir / "roto" / "dog.nk").is_file()
        with db.session(f"sqlite:///{home / 'rotoflow.db'}") as s:
            shot = s.exec(select(db.Shot).where(db.Shot.name == "dog")).one()
            job = s.exec(select(db.Job).where(db.Job.shot_id == shot.id)).one()
        assert shot.status == db.Status.done and job.status == db.Status.done
        flow_run = api_json("GET", f"{api}/flow_runs/{job.flow_run_id}", auth=auth)
        assert flow_run["state_type"] == "COMPLETED"
        assert flow_run["deployment_id"] == deployments["roto-shot"]["id"]

        # a run asking for an output root outside the worker's allow-list writes nothing there
        elsewhere = tmp_path / "elsewhere"
        refused = rotoflow(
            env,
            "submit",
            str(plate),
            "--box",
            _box("dog"),
            "--shot",
            "far",
            "--out",
            str(elsewhere),
        )
        assert refused.returncode == 1, refused.stdout + refused.stderr[-3000:]
        reason = refused.stderr.strip().splitlines()
        assert len(reason) == 1, refused.stderr
        assert f"output root {elsewhere}" in reason[0] and "is not allowed" in reason[0]
        assert f"output roots must be in {(home / 'out').resolve()}" in reason[0]
        assert not elsewhere.exists()

        # a run that fails (box outside the frame) is a non-zero exit with its reason
        bad = rotoflow(env, "submit", str(plate), "--box", "900,10,1000,50", "--shot", "bad")
        assert bad.returncode == 1, bad.stdout + bad.stderr[-3000:]
        assert "outside the 854x480 frame" in bad.stderr.strip().splitlines()[-1]

        # `rotoflow run` (the flow in its own process, no worker) reports to the same server,
        # sending its auth string; its user's own --out is allowed
        here = rotoflow(
            env,
            "run",
            str(plate),
            "--box",
            _box("dog"),
            "--shot",
            "dog_here",
            "--out",
            str(elsewhere),
        )
        assert here.returncode == 0, here.stdout + here.stderr[-3000:]
        assert f"reporting to the Prefect server of `rotoflow up`: {api}" in here.stderr
        assert list((elsewhere / "default" / "dog_here" / "roto").glob("*.nk"))
        with db.session(f"sqlite:///{home / 'rotoflow.db'}") as s:
            shot = s.exec(select(db.Shot).where(db.Shot.name == "dog_here")).one()
            job = s.exec(select(db.Job).where(db.Job.shot_id == shot.id)).one()
        assert job.status == db.Status.done
        flow_run = api_json("GET", f"{api}/flow_runs/{job.flow_run_id}", auth=auth)
        assert flow_run["state_type"] == "COMPLETED" and flow_run["deployment_id"] is None

        down = rotoflow(env, "down")
        assert down.returncode == 0 and "stopped the server" in down.stdout, down.stderr
        assert not any(procs.is_ours(p) for p in pids)
        assert procs.port_is_free("127.0.0.1", port)
        assert not (data / "up.json").exists()
        again = rotoflow(env, "down")
        assert again.returncode == 0 and "nothing is up" in again.stdout
    finally:  # leave nothing running, whatever failed
        leftover = local.read_state(data)
        if leftover is not None:
            procs.stop_processes([*leftover.worker_pids, leftover.server_pid], timeout=5)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("ROTOFLOW_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield tmp_path / "home"
    get_settings.cache_clear()


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_down_cleans_up_after_a_server_that_died(home):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    data = home / "prefect"
    data.mkdir(parents=True)
    local._write_state(
        data,
        local.UpState(
            api_url="http://127.0.0.1:9/api",
            ui_url="http://127.0.0.1:9",
            server_pid=dead.pid,
            worker_pids=[dead.pid],
            host="127.0.0.1",
            port=9,
            data=str(data),
            started="2026-01-01T00:00:00+00:00",
        ),
    )
    result = invoke("down")
    assert result.exit_code == 0 and "already stopped" in result.stdout
    assert not (data / "up.json").exists()
    assert invoke("down").stdout.strip() == "nothing is up"


def test_submit_with_no_server_or_a_bad_box_is_a_one_line_error(home, tmp_path):
    result = invoke("submit", str(tmp_path), "--box", "1,2,3,4")
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        == "error: no Prefect server: run `rotoflow up`, or set PREFECT_API_URL"
    )
    result = invoke("submit", str(tmp_path), "--box", "1,2,3")
    assert result.exit_code == 2 and "--box" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_up_waits_for_another_up_starting_under_the_same_home(home):
    """An ``up`` that is still starting holds ``up.lock``: a second one waits for it, then gives
    up with a one-line reason and starts nothing."""
    import fcntl

    data = local.data_dir(home)
    data.mkdir(parents=True)
    with (data / "up.lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        started = time.monotonic()
        with pytest.raises(local.LocalStackError, match="another rotoflow up .* still starting"):
            local.up(get_settings(), port=free_port(), timeout=1.5)
        assert time.monotonic() - started >= 1.5
    assert local.read_state(data) is None and not (data / "server.log").exists()


@pytest.mark.parametrize(
    ("workers", "gpus", "device", "visible", "expected"),
    [
        (2, 2, "auto", None, ["0", "1"]),
        (3, 2, "cuda", None, ["0", "1", "0"]),  # more workers than GPUs: round robin
        (2, 2, "auto", "3,5", ["3", "5"]),  # the entries this environment made visible
        (2, 2, "auto", "GPU-aa,GPU-bb,GPU-cc", ["GPU-aa", "GPU-bb"]),
        (2, 1, "auto", None, [None, None]),  # one GPU: nothing to choose
        (2, 0, "auto", None, [None, None]),
        (2, 2, "cpu", None, [None, None]),
        (2, 2, "cuda:1", None, [None, None]),  # a GPU chosen in the settings stays chosen
    ],
)
def test_workers_are_spread_over_the_gpus(workers, gpus, device, visible, expected):
    assert local.worker_gpus(workers, gpus, device, visible) == expected
