"""Fault injection: a real ``rotoflow run`` of a DAVIS shot killed with SIGKILL at each stage, with
the project database locked at record, with its file system filled, and with object storage
failing. After each, the job is failed or crashed with a reason, nothing published looks finished,
a re-run completes, and its outputs are byte-identical to those of an undisturbed run.

The faults are injected by ``faults/sitecustomize.py`` in the ``rotoflow`` subprocess (see its
docstring); the runs report to one Prefect server started for the module.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlmodel import select

from rotoflow import db
from tests.flows.conftest import prefect_server
from tests.flows.helpers import frame_folder, gt_box, published_files
from tests.s3server import AWS_ENV, aws_env, moto_server, s3_client

pytestmark = pytest.mark.e2e

FAULTS = Path(__file__).parent / "faults"
REPO = Path(__file__).resolve().parents[2]
FRAMES = 4
STAGES = ("ingest", "detect", "segment", "propagate", "matte", "vectorize", "export", "qc")
PUBLISHED = ("masks", "alpha", "roto", "qc")


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    with prefect_server(tmp_path_factory.mktemp("prefect-server")) as base:
        yield f"{base}/api"


@pytest.fixture(scope="module")
def plate(tmp_path_factory) -> Path:
    return frame_folder("dog", tmp_path_factory.mktemp("plates") / "dog", range(FRAMES))


def box() -> str:
    b = gt_box("dog")
    return f"{b['x0']},{b['y0']},{b['x1']},{b['y1']}"


class Home:
    """A Rotoflow home (database, output root) for one scenario, and ``rotoflow`` runs in it."""

    def __init__(self, path: Path, api: str, out: Path | None = None, **env: str) -> None:
        self.path = path
        self.out = out or path / "out"
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "ROTOFLOW_DATABASE_URL"},
            "ROTOFLOW_HOME": str(path),
            "ROTOFLOW_OUTPUT_ROOT": str(self.out),
            "PREFECT_API_URL": api,
            **env,
        }

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path / 'rotoflow.db'}"

    @property
    def shot(self) -> Path:
        return self.out / "default" / "dog"

    def rotoflow(self, *args: str, fault: str | None = None, **env: str):
        run_env = {**self.env, **env}
        if fault:
            run_env["ROTOFLOW_TEST_FAULT"] = fault
            run_env["PYTHONPATH"] = os.pathsep.join([str(FAULTS), str(REPO)])
        return subprocess.run(
            [sys.executable, "-m", "apps.cli", *args],
            env=run_env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    def run(self, plate: Path, fault: str | None = None, **env: str):
        return self.rotoflow("run", str(plate), "--box", box(), fault=fault, **env)

    def last_job(self) -> db.Job:
        with db.session(self.url) as s:
            return s.exec(select(db.Job).order_by(db.Job.id.desc())).first()

    def published(self) -> dict[str, bytes]:
        """Every published file of masks/, alpha/ and roto/ by relative path (qc.json names its
        own folder, so QC is compared by its contact sheet only)."""
        files = published_files(self.shot)
        files["qc/contact_sheet.png"] = (self.shot / "qc" / "contact_sheet.png").read_bytes()
        return files

    def nothing_published(self) -> bool:
        return not any((self.shot / top).exists() for top in PUBLISHED)


@pytest.fixture(scope="module")
def undisturbed(tmp_path_factory, api, plate) -> dict[str, bytes]:
    home = Home(tmp_path_factory.mktemp("undisturbed"), api)
    result = home.run(plate)
    assert result.returncode == 0, result.stderr[-3000:]
    files = home.published()
    assert len([f for f in files if f.startswith("masks/")]) == FRAMES
    return files


def assert_failed_then_recovers(home: Home, plate: Path, result, undisturbed, **env) -> db.Job:
    """The common checks after a fault: the run failed, ``rotoflow status`` shows the job failed
    or crashed with a reason, nothing is published, a clean re-run gives the undisturbed bytes."""
    assert result.returncode != 0, result.stdout
    status = home.rotoflow("status")
    assert status.returncode == 0, status.stderr
    job = home.last_job()
    assert job.status in (db.Status.failed, db.Status.crashed), (job.status, job.error)
    assert job.error, job
    assert home.nothing_published(), sorted(p.name for p in home.shot.iterdir())
    again = home.run(plate, **env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert home.last_job().status == db.Status.done
    assert home.published() == undisturbed
    assert not list(home.shot.glob(".publish-*"))
    assert not list(home.shot.glob(".rotoflow/*.partial-*"))
    return job


@pytest.mark.parametrize("stage", [*STAGES, "record"])
def test_killed_at_each_stage(tmp_path, api, plate, undisturbed, stage):
    home = Home(tmp_path, api)
    result = home.run(plate, fault=f"kill:{stage}")
    assert result.returncode == -9, result.stderr[-3000:]
    job = assert_failed_then_recovers(home, plate, result, undisturbed)
    assert job.status == db.Status.crashed


def test_database_locked_at_record(tmp_path, api, plate, undisturbed):
    # a 1 s busy timeout per try (30 s by default) keeps the retries short
    home = Home(
        tmp_path, api, ROTOFLOW_DATABASE_URL=f"sqlite:///{tmp_path / 'rotoflow.db'}?timeout=1"
    )
    result = home.run(plate, fault="lock:record")
    assert result.returncode == 1, result.stderr[-3000:]
    assert_failed_then_recovers(home, plate, result, undisturbed)


@contextmanager
def small_filesystem(path: Path, size: str) -> Iterator[Path | None]:
    """A tmpfs of ``size`` mounted at ``path`` (root only); None where it cannot be mounted, and
    the fault then makes the write fail with ``ENOSPC`` itself."""
    path.mkdir()
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
        ).returncode
        == 0
    )
    try:
        yield path if mounted else None
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], check=True)


@pytest.mark.parametrize("stage", ["matte", "qc"])
def test_disk_full(tmp_path, api, plate, undisturbed, stage):
    with small_filesystem(tmp_path / "small", "64m") as fs:
        out = (fs or tmp_path / "small") / "out"
        home = Home(tmp_path / "home", api, out=out)
        env = {"ROTOFLOW_TEST_FILL": str(fs)} if fs else {}
        result = home.run(plate, fault=f"full:{stage}", **env)
        assert result.returncode == 1, result.stderr[-3000:]
        assert "space" in result.stderr.lower(), result.stderr[-3000:]
        (out.parent / "filler").unlink(missing_ok=True)
        job = assert_failed_then_recovers(home, plate, result, undisturbed)
        assert "space" in job.error.lower()


def test_object_storage_fails_during_upload(tmp_path, api, plate, undisturbed):
    with aws_env(), moto_server() as endpoint:
        s3_client(endpoint).create_bucket(Bucket="out")
        env = {**AWS_ENV, "ROTOFLOW_STORAGE_URL": "s3://out/shots"}
        env["ROTOFLOW_S3_ENDPOINT_URL"] = endpoint
        home = Home(tmp_path, api, **env)
        result = home.run(plate, fault="s3:upload")
        assert result.returncode == 1, result.stderr[-3000:]
        assert_failed_then_recovers(home, plate, result, undisturbed)
        listed = s3_client(endpoint).list_objects_v2(Bucket="out", Prefix="shots/default/dog/")
        keys = {o["Key"] for o in listed.get("Contents", [])}
        assert "shots/default/dog/.rotoflow/published.json" in keys
        assert len([k for k in keys if "/masks/" in k]) == FRAMES


def test_the_undisturbed_run_is_reproducible(tmp_path, api, plate, undisturbed):
    """What the comparisons above rest on: a second undisturbed run in a fresh home gives the
    same bytes."""
    home = Home(tmp_path, api)
    assert home.run(plate).returncode == 0
    assert home.published() == undisturbed
