"""End to end with object storage: a real DAVIS shot whose plate is read from, and whose outputs
are published to, a loopback S3 server (moto's server mode) over real HTTP, through the Prefect roto
flow in this process."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from sqlmodel import select
from typer.testing import CliRunner

from apps.cli import app
from flows.roto_shot import roto_shot
from rotoflow import db, objectstore, publication
from rotoflow.errors import StorageError
from rotoflow.objectstore import S3Store, S3Url
from rotoflow.pipeline import RotoJob
from rotoflow.publication import MARKER
from rotoflow.settings import get_settings
from tests.conftest import davis_frames
from tests.flows.helpers import gt_box, published_files, use_home
from tests.s3server import aws_env, moto_server, s3_client

pytestmark = pytest.mark.e2e

SEQ = "dog"
FRAMES = 4
PLATE = "s3://plates/shots/dog/"
STORAGE = "s3://rotoflow-out/projects/test"
SHOT_PREFIX = "projects/test/default/dog/"


def dog_job() -> RotoJob:
    """The first frames of DAVIS ``dog`` from the bucket, with a box on frame 0; the shot is named
    from the URL."""
    return RotoJob(
        plate=PLATE, prompts={"objects": [{"id": 1, "name": "object", "boxes": [gt_box(SEQ)]}]}
    )


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """The loopback server with the plate in ``plates`` and an empty ``rotoflow-out``; Rotoflow's
    settings in a temporary home, publishing to ``rotoflow-out``."""
    home = tmp_path_factory.mktemp("s3home")
    with aws_env(), moto_server() as endpoint, pytest.MonkeyPatch.context() as mp:
        client = s3_client(endpoint)
        for bucket in ("plates", "rotoflow-out"):
            client.create_bucket(Bucket=bucket)
        for f in range(FRAMES):
            name = f"{f:05d}.jpg"
            client.upload_file(str(davis_frames(SEQ) / name), "plates", f"shots/dog/{name}")
        use_home(home)
        mp.setenv("ROTOFLOW_STORAGE_URL", STORAGE)
        mp.setenv("ROTOFLOW_S3_ENDPOINT_URL", endpoint)
        get_settings.cache_clear()
        yield {"endpoint": endpoint, "client": client, "home": home}
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def run(s3):
    return roto_shot(dog_job())


def bucket_files(client) -> dict[str, bytes]:
    """Every object under the shot's prefix, by path relative to it."""
    listed = client.list_objects_v2(Bucket="rotoflow-out", Prefix=SHOT_PREFIX).get("Contents", [])
    return {
        o["Key"][len(SHOT_PREFIX) :]: client.get_object(Bucket="rotoflow-out", Key=o["Key"])[
            "Body"
        ].read()
        for o in listed
    }


def test_outputs_are_published_with_the_local_layout(s3, run):
    shot_dir = Path(run["shot_dir"])
    assert shot_dir.name == SEQ  # named from the URL
    local = published_files(shot_dir)
    assert len(local) == run["outputs"] == 2 * FRAMES + 2
    assert f"masks/object/object.{FRAMES - 1:05d}.png" in local and f"roto/{SEQ}.nk" in local
    published = bucket_files(s3["client"])
    marker = published.pop(MARKER)
    assert published == local  # same relative paths, same bytes
    listed = publication.published(S3Store(s3["endpoint"]), S3Url("rotoflow-out", SHOT_PREFIX))
    assert listed is not None and marker
    assert {rel: f["sha256"] for rel, f in listed["files"].items()} == {
        rel: hashlib.sha256(data).hexdigest() for rel, data in local.items()
    }
    # the plate came through the cache, frame for frame
    cached = s3["home"] / "cache/s3/plates/shots/dog"
    assert sorted(p.name for p in cached.iterdir()) == [f"{f:05d}.jpg" for f in range(FRAMES)]


def test_database_records_the_s3_plate_and_output_urls(s3, run):
    published = bucket_files(s3["client"])
    with db.session(get_settings().resolved_database_url()) as s:
        job = s.get(db.Job, run["job_id"])
        shot = s.get(db.Shot, job.shot_id)
        assert job.status == db.Status.done and shot.status == db.Status.done
        assert shot.plate_path == job.plate_path == job.parameters["plate"] == PLATE
        assert (shot.first_frame, shot.last_frame, shot.width, shot.height) == (
            0,
            FRAMES - 1,
            854,
            480,
        )
        assert {"fetch", "upload"} <= set(job.timings)
        outputs = s.exec(select(db.Output).where(db.Output.job_id == job.id)).all()
    assert len(outputs) == 2 * FRAMES + 2
    prefix = f"{STORAGE}/default/{SEQ}/"
    for o in outputs:
        assert o.path.startswith(prefix), o.path
        assert hashlib.sha256(published[o.path[len(prefix) :]]).hexdigest() == o.sha256


def test_cli_export_adds_roto_formats_to_the_publication(s3, run):
    """``rotoflow export`` of a published shot works from its publication alone: the local shot
    folder is moved away meanwhile, as on a machine that never ran the shot."""
    shot_dir = Path(run["shot_dir"])
    away = shot_dir.with_name(f"{SEQ}.away")
    shot_dir.rename(away)
    try:
        result = CliRunner().invoke(app, ["export", SEQ, "--format", "silhouette,svg"])
    finally:
        away.rename(shot_dir)
    assert result.exit_code == 0, result.output
    assert f"silhouette: {STORAGE}/default/{SEQ}/roto/{SEQ}.fxs" in result.stdout
    assert f"svg: {FRAMES} files in {STORAGE}/default/{SEQ}/roto/{SEQ}.svg" in result.stdout
    assert not (shot_dir / "roto" / f"{SEQ}.fxs").exists()  # written in a temporary folder
    objects = bucket_files(s3["client"])
    marker = json.loads(objects.pop(MARKER))
    svgs = [k for k in objects if k.startswith(f"roto/{SEQ}.svg/") and k.endswith(".svg")]
    assert f"roto/{SEQ}.fxs" in objects and len(svgs) == FRAMES
    assert b"<path" in objects[svgs[0]]
    # the marker lists the new files and still every file of the run, with their sha256
    assert {rel: f["sha256"] for rel, f in marker["files"].items()} == {
        rel: hashlib.sha256(data).hexdigest() for rel, data in objects.items()
    }
    with db.session(get_settings().resolved_database_url()) as s:
        added = s.exec(
            select(db.Output).where(
                db.Output.job_id == run["job_id"], db.Output.kind.in_(["silhouette", "svg"])
            )
        ).all()
    prefix = f"{STORAGE}/default/{SEQ}/"
    assert sorted(o.path[len(prefix) :] for o in added) == sorted([f"roto/{SEQ}.fxs", *svgs])
    for o in added:
        assert hashlib.sha256(objects[o.path[len(prefix) :]]).hexdigest() == o.sha256


def test_a_failed_upload_fails_the_job_and_leaves_the_shot_unpublished(s3, run, monkeypatch):
    """A second run of the shot (which reuses the cached plate and every finished stage): the
    files it published before are not uploaded again, but an alpha frame lost from the bucket is,
    and that upload is refused."""

    puts: list[str] = []

    def refusing_store(settings, **options):
        store = S3Store(settings.s3_endpoint_url, **options)

        def refuse_alpha(params, **_):
            puts.append(params["Key"])
            if "/alpha/" in params["Key"]:
                raise ClientError(
                    {
                        "Error": {"Code": "AccessDenied", "Message": "Access Denied"},
                        "ResponseMetadata": {"HTTPStatusCode": 403},
                    },
                    "PutObject",
                )

        store.client.meta.events.register("before-parameter-build.s3.PutObject", refuse_alpha)
        return store

    work = Path(run["shot_dir"]) / ".rotoflow"
    stages = {p.parent.name: p.stat().st_mtime_ns for p in work.glob("*/manifest.json")}
    cached = s3["home"] / "cache/s3/plates/shots/dog"
    frames = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in cached.iterdir()}
    lost = f"{SHOT_PREFIX}alpha/object/object.00001.exr"
    s3["client"].delete_object(Bucket="rotoflow-out", Key=lost)
    monkeypatch.setattr(objectstore, "store_from_settings", refusing_store)
    with pytest.raises(StorageError, match="access denied"):
        roto_shot(dog_job())
    assert puts == [lost]  # the only file missing or changed
    assert {p.parent.name: p.stat().st_mtime_ns for p in work.glob("*/manifest.json")} == stages
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in cached.iterdir()} == frames
    assert MARKER not in bucket_files(s3["client"])  # the earlier publication no longer vouched for
    with db.session(get_settings().resolved_database_url()) as s:
        job = s.exec(select(db.Job).order_by(db.Job.id.desc())).first()
        assert job.status == db.Status.failed and "access denied" in job.error
        assert s.exec(select(db.Output).where(db.Output.job_id == job.id)).all() == []


def test_cli_missing_bucket_is_one_line_and_a_failed_job(s3):
    result = CliRunner().invoke(
        app,
        ["run", "s3://no-such-bucket/shots/cat.mp4", "--box", "10,10,100,100"],
        catch_exceptions=False,
    )
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == (
        "error: s3://no-such-bucket/shots/cat.mp4: no such bucket 'no-such-bucket'"
    ), lines
    with db.session(get_settings().resolved_database_url()) as s:
        shot = s.exec(select(db.Shot).where(db.Shot.name == "cat")).one()
        assert shot.status == db.Status.failed and "no such bucket" in shot.error
