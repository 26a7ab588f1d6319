"""Object storage against a loopback S3 server (moto's server mode) over real HTTP: URLs, plate
downloads into the cache, multipart uploads, publication with a marker written last, and failures
that leave no partial object, no multipart upload in progress and no marker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rotoflow.errors import StorageError, StorageUnavailable
from rotoflow.objectstore import MiB, S3Store, S3Url, parse_url, plate_signature
from rotoflow.pipeline import RotoJob, default_shot_name, resolve
from rotoflow.plate import plate_signature as ingest_signature
from rotoflow.publication import (
    MARKER,
    add_to_publication,
    fetch_published,
    publish_tree,
    published,
)
from rotoflow.sequence import find_sequence
from rotoflow.settings import Settings
from rotoflow.workspace import sha256_file
from tests.conftest import free_port
from tests.s3server import aws_env, moto_server, s3_client

BUCKET = "plates"


@pytest.fixture(scope="module")
def endpoint():
    with aws_env(), moto_server() as url:
        s3_client(url).create_bucket(Bucket=BUCKET)
        yield url


@pytest.fixture
def store(endpoint):
    with aws_env():
        yield S3Store(endpoint, multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)


@pytest.fixture
def client(endpoint):
    with aws_env():
        yield s3_client(endpoint)


def put(client, key: str, data: bytes) -> None:
    client.put_object(Bucket=BUCKET, Key=key, Body=data)


def random_file(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def count_calls(store: S3Store, operation: str) -> list[str]:
    """Record every ``operation`` request the store's client makes (botocore event hook)."""
    calls: list[str] = []
    store.client.meta.events.register(
        f"before-parameter-build.s3.{operation}",
        lambda params, **_: calls.append(params.get("Key")),
    )
    return calls


@pytest.mark.parametrize(
    "text, words",
    [
        ("/plates/dog.mp4", "not an s3:// URL"),
        ("https://plates/dog.mp4", "not an s3:// URL"),
        ("s3://", "not a bucket name"),
        ("s3://Plates_01/dog.mp4", "not a bucket name"),
        ("s3://ab/dog.mp4", "not a bucket name"),
        ("s3://plates/shots//dog.mp4", "empty, '.' or '..'"),
        ("s3://plates/shots/../../etc/passwd", "empty, '.' or '..'"),
    ],
)
def test_bad_urls_are_refused_with_the_reason(text, words):
    with pytest.raises(StorageError, match=None) as info:
        parse_url(text)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_url_parts():
    url = parse_url("s3://plates/shots/dog/")
    assert (url.bucket, url.key, url.name, str(url.parent)) == (
        "plates",
        "shots/dog/",
        "dog",
        "s3://plates/shots",
    )
    assert str(url.join("masks/dog/dog.0001.png")) == "s3://plates/shots/dog/masks/dog/dog.0001.png"
    assert str(parse_url("s3://plates").join("dog")) == "s3://plates/dog"


@pytest.mark.parametrize(
    "plate, shot",
    [
        ("s3://plates/shots/dog.mp4", "dog"),
        ("s3://plates/shots/dog/", "dog"),
        ("s3://plates/shots/dog", "dog"),
        ("s3://plates/shots/sh010/sh010.####.exr", "sh010"),
        ("s3://plates/shots/sh010/1001.exr", "sh010"),
    ],
)
def test_shots_are_named_from_the_key(plate, shot):
    assert default_shot_name(plate) == shot


def test_resolve_checks_the_plate_url_and_the_storage_url(tmp_path):
    box = {"x0": 0, "y0": 0, "x1": 10, "y1": 10}
    job = RotoJob(
        plate="s3://plates/shots/dog/",
        prompts={"objects": [{"id": 1, "name": "dog", "boxes": [box]}]},
    )
    rj = resolve(job, Settings(home=tmp_path, storage_url="s3://out/projects/x"))
    assert (rj.plate, rj.shot, rj.storage_url) == (job.plate, "dog", "s3://out/projects/x")
    with pytest.raises(StorageError, match="not an s3:// URL"):
        resolve(job, Settings(home=tmp_path, storage_url="out/projects/x"))
    with pytest.raises(StorageError, match="not a bucket name"):
        resolve(job.model_copy(update={"plate": "s3://Plates/dog.mp4"}), Settings(home=tmp_path))


def test_upload_and_download_round_trip(store, client, tmp_path):
    src = random_file(tmp_path / "clip.mp4", 300_000)
    store.upload_file(src, S3Url(BUCKET, "round/clip.mp4"), sha256=sha256_file(src))
    head = client.head_object(Bucket=BUCKET, Key="round/clip.mp4")
    assert head["Metadata"]["sha256"] == sha256_file(src)
    local = store.fetch_plate(f"s3://{BUCKET}/round/clip.mp4", tmp_path / "cache")
    assert local == tmp_path / "cache" / BUCKET / "round/clip.mp4"
    assert sha256_file(local) == sha256_file(src)
    # the cached file carries the object's time, so a refilled cache fingerprints the same
    assert local.stat().st_mtime == head["LastModified"].timestamp()
    assert [p.name for p in local.parent.iterdir()] == ["clip.mp4"]  # no temporary file left


def test_large_files_go_up_and_down_in_parts(store, client, tmp_path):
    src = random_file(tmp_path / "big.mov", 12 * MiB)
    parts = count_calls(store, "UploadPart")
    store.upload_file(src, S3Url(BUCKET, "big/big.mov"))
    assert len(parts) == 3  # 5 + 5 + 2 MiB
    etag = client.head_object(Bucket=BUCKET, Key="big/big.mov")["ETag"]
    assert etag.strip('"').endswith("-3")  # S3's ETag of a multipart upload of 3 parts
    ranges = count_calls(store, "GetObject")
    local = store.fetch_plate(f"s3://{BUCKET}/big/big.mov", tmp_path / "cache")
    assert len(ranges) == 3  # ranged GETs of 5 MiB
    assert sha256_file(local) == sha256_file(src)


class InjectedFailure(Exception):
    pass


def test_a_failed_publication_leaves_no_partial_object_and_no_marker(store, client, tmp_path):
    dest = S3Url(BUCKET, "out/sh010")
    small = random_file(tmp_path / "mask.png", 1000)
    big = random_file(tmp_path / "big.exr", 12 * MiB)
    sources = {"masks/obj/obj.0001.png": small, "alpha/obj/obj.0001.exr": big}
    publish_tree(store, sources, dest)
    assert published(store, dest)["files"]["alpha/obj/obj.0001.exr"]["sha256"] == sha256_file(big)
    client.delete_object(Bucket=BUCKET, Key="out/sh010/alpha/obj/obj.0001.exr")

    calls = []

    def fail_second_part(params, **_):
        calls.append(params["PartNumber"])
        if len(calls) == 2:
            raise InjectedFailure("connection dropped while sending part 2")

    store.client.meta.events.register("before-parameter-build.s3.UploadPart", fail_second_part)
    with pytest.raises(InjectedFailure):
        publish_tree(store, sources, dest)
    key = "out/sh010/alpha/obj/obj.0001.exr"
    assert "Contents" not in client.list_objects_v2(Bucket=BUCKET, Prefix=key)
    # s3transfer aborted the multipart upload: no parts are left in the bucket
    assert client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    # the earlier publication's marker went first: the shot does not look published
    assert published(store, dest) is None
    assert "Contents" not in client.list_objects_v2(Bucket=BUCKET, Prefix=f"out/sh010/{MARKER}")


def test_publication_replaces_an_earlier_one(store, client, tmp_path):
    dest = S3Url(BUCKET, "out/sh020")
    frames = {f"masks/obj/obj.{f:04d}.png": random_file(tmp_path / f"{f}.png", 500) for f in (1, 2)}
    publish_tree(store, frames, dest)
    one = {"masks/obj/obj.0001.png": frames["masks/obj/obj.0001.png"]}
    urls = publish_tree(store, one, dest)
    assert urls == {"masks/obj/obj.0001.png": "s3://plates/out/sh020/masks/obj/obj.0001.png"}
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix="out/sh020/")["Contents"]
    assert sorted(o["Key"] for o in listed) == [
        f"out/sh020/{MARKER}",
        "out/sh020/masks/obj/obj.0001.png",
    ]
    assert list(published(store, dest)["files"]) == ["masks/obj/obj.0001.png"]


def test_a_publication_again_uploads_only_what_changed(store, client, tmp_path):
    dest = S3Url(BUCKET, "out/sh060")
    frames = {f"masks/o/o.{f:04d}.png": random_file(tmp_path / f"{f}.png", 400) for f in range(4)}
    publish_tree(store, frames, dest)
    puts = count_calls(store, "PutObject")
    publish_tree(store, frames, dest)  # the same files: only the marker is written
    assert puts == [f"out/sh060/{MARKER}"]
    puts.clear()
    random_file(frames["masks/o/o.0002.png"], 400)  # new content, same size
    client.delete_object(Bucket=BUCKET, Key="out/sh060/masks/o/o.0003.png")  # lost from the bucket
    publish_tree(store, frames, dest)
    changed = ["out/sh060/masks/o/o.0002.png", "out/sh060/masks/o/o.0003.png"]
    assert (
        sorted(puts[:-1]) == changed and puts[-1] == f"out/sh060/{MARKER}"
    )  # uploaded in parallel
    files = published(store, dest)["files"]
    for rel, path in frames.items():
        key = f"out/sh060/{rel}"
        assert files[rel]["sha256"] == sha256_file(path)
        assert client.get_object(Bucket=BUCKET, Key=key)["Body"].read() == path.read_bytes()


def marker_during_puts(store: S3Store, client, dest: S3Url) -> list[tuple[str, bool]]:
    """``(key, whether the shot's marker existed)`` at every PutObject the store makes."""
    prefix = dest.join(MARKER).key
    seen: list[tuple[str, bool]] = []
    store.client.meta.events.register(
        "before-parameter-build.s3.PutObject",
        lambda params, **_: seen.append(
            (params["Key"], "Contents" in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix))
        ),
    )
    return seen


def test_files_added_to_a_publication_keep_the_earlier_files_published(store, client, tmp_path):
    dest = S3Url(BUCKET, "out/sh040")
    mask, nk = random_file(tmp_path / "m.png", 300), random_file(tmp_path / "a.nk", 400)
    publish_tree(store, {"masks/o/o.0001.png": mask, "roto/sh040.nk": nk}, dest)
    seen = marker_during_puts(store, client, dest)
    fxs = random_file(tmp_path / "b.fxs", 500)
    urls = add_to_publication(store, {"roto/sh040.fxs": fxs}, dest)
    assert urls == {"roto/sh040.fxs": "s3://plates/out/sh040/roto/sh040.fxs"}
    assert seen[0] == ("out/sh040/roto/sh040.fxs", True)  # the marker stayed while it went up
    files = published(store, dest)["files"]
    assert sorted(files) == ["masks/o/o.0001.png", "roto/sh040.fxs", "roto/sh040.nk"]
    assert files["roto/sh040.fxs"]["sha256"] == sha256_file(fxs)
    assert files["roto/sh040.nk"]["sha256"] == sha256_file(nk)

    seen.clear()  # replacing a file the marker lists: the marker goes first
    nk2 = random_file(tmp_path / "c.nk", 450)
    add_to_publication(store, {"roto/sh040.nk": nk2}, dest)
    assert seen[0] == ("out/sh040/roto/sh040.nk", False)
    files = published(store, dest)["files"]
    assert len(files) == 3 and files["roto/sh040.nk"]["sha256"] == sha256_file(nk2)

    with pytest.raises(StorageError, match="no finished publication"):
        add_to_publication(store, {"roto/x.nk": nk}, S3Url(BUCKET, "out/sh041"))


def test_fetch_published_checks_the_marker_sha256(store, client, tmp_path):
    dest = S3Url(BUCKET, "out/sh050")
    shapes = random_file(tmp_path / "sh050.shapes.json", 700)
    publish_tree(store, {"roto/sh050.shapes.json": shapes}, dest)
    got = fetch_published(store, dest, "roto/sh050.shapes.json", tmp_path / "got" / "s.json")
    assert got.read_bytes() == shapes.read_bytes()
    with pytest.raises(StorageError, match="has no roto/other.json"):
        fetch_published(store, dest, "roto/other.json", tmp_path / "other.json")
    put(client, "out/sh050/roto/sh050.shapes.json", b"rewritten behind the marker's back")
    bad = tmp_path / "bad.json"
    with pytest.raises(StorageError, match="differs from the published sha256"):
        fetch_published(store, dest, "roto/sh050.shapes.json", bad)
    assert not bad.exists()


def test_sequence_prefix_pattern_and_member_download(store, client, tmp_path):
    frames = {f: os.urandom(200 + f) for f in range(1001, 1006)}
    for f, data in frames.items():
        put(client, f"seq/sh030/sh030.{f}.png", data)
    put(client, "seq/sh030/notes.txt", b"notes")
    put(client, "seq/sh030/other.0001.png", b"another sequence")
    put(client, "seq/sh030/old/sh030.1001.png", b"a sub-folder")
    cache = tmp_path / "cache"

    folder = store.fetch_plate(f"s3://{BUCKET}/seq/sh030/", cache)
    assert folder == cache / BUCKET / "seq/sh030"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["notes.txt", "other.0001.png", *(f"sh030.{f}.png" for f in frames)]
    )  # everything directly under the prefix, not the sub-folder
    assert store.fetch_plate(f"s3://{BUCKET}/seq/sh030", cache) == folder

    pattern_cache = tmp_path / "pattern"
    pattern = store.fetch_plate(f"s3://{BUCKET}/seq/sh030/sh030.####.png", pattern_cache)
    assert pattern == pattern_cache / BUCKET / "seq/sh030/sh030.####.png"
    seq = find_sequence(pattern)
    assert (seq.first, seq.last, seq.padding) == (1001, 1005, 4)
    assert sorted(p.name for p in pattern.parent.iterdir()) == [f"sh030.{f}.png" for f in frames]
    for f, data in frames.items():
        assert seq.path_for(f).read_bytes() == data

    member_cache = tmp_path / "member"
    member = store.fetch_plate(f"s3://{BUCKET}/seq/sh030/sh030.1003.png", member_cache)
    assert member == member_cache / BUCKET / "seq/sh030/sh030.1003.png"
    assert sorted(p.name for p in member.parent.iterdir()) == [f"sh030.{f}.png" for f in frames]


def test_unchanged_objects_are_not_downloaded_again(store, client, tmp_path):
    for f in range(1, 5):
        put(client, f"skip/sh040/sh040.{f:04d}.jpg", os.urandom(1000))
    cache = tmp_path / "cache"
    url = f"s3://{BUCKET}/skip/sh040/"
    gets = count_calls(store, "GetObject")
    folder = store.fetch_plate(url, cache)
    assert len(gets) == 4
    mtimes = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}

    gets.clear()
    store.fetch_plate(url, cache)
    assert gets == []
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == mtimes

    changed = os.urandom(1000)  # same size, new bytes: the ETag tells
    put(client, "skip/sh040/sh040.0002.jpg", changed)
    client.delete_object(Bucket=BUCKET, Key="skip/sh040/sh040.0004.jpg")
    gets.clear()
    store.fetch_plate(url, cache)
    assert gets == ["skip/sh040/sh040.0002.jpg"]
    assert (folder / "sh040.0002.jpg").read_bytes() == changed
    assert sorted(p.name for p in folder.iterdir()) == [f"sh040.{f:04d}.jpg" for f in (1, 2, 3)]

    (folder / "sh040.0001.jpg").write_bytes(b"damaged")  # a local change of size is seen too
    gets.clear()
    store.fetch_plate(url, cache)
    assert gets == ["skip/sh040/sh040.0001.jpg"]


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text
    return text


def test_missing_bucket_or_key_is_one_clear_error(store, tmp_path):
    with pytest.raises(StorageError) as info:
        store.fetch_plate("s3://no-such-bucket/shots/dog.mp4", tmp_path)
    assert "no such bucket 'no-such-bucket'" in one_line(info.value)
    with pytest.raises(StorageError) as info:
        store.fetch_plate(f"s3://{BUCKET}/shots/missing.mp4", tmp_path)
    assert one_line(info.value) == f"s3://{BUCKET}/shots/missing.mp4: no such object or prefix"
    with pytest.raises(StorageError) as info:
        store.fetch_plate(f"s3://{BUCKET}/seq/sh030/sh999.####.png", tmp_path)
    assert "no object beside it matches the pattern" in one_line(info.value)
    src = random_file(tmp_path / "x.png", 10)
    with pytest.raises(StorageError) as info:
        store.upload_file(src, S3Url("no-such-bucket", "x.png"))
    assert "no such bucket" in one_line(info.value)
    assert not isinstance(info.value, StorageUnavailable)


def test_no_credentials_is_one_clear_error(endpoint, monkeypatch, tmp_path):
    with aws_env():
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
        with pytest.raises(StorageError) as info:
            S3Store(endpoint).fetch_plate(f"s3://{BUCKET}/shots/dog.mp4", tmp_path)
    assert "no AWS credentials" in one_line(info.value)


def test_rejected_credentials_are_one_clear_error(tmp_path):
    with aws_env(), moto_server(require_auth=True) as url, pytest.raises(StorageError) as info:
        S3Store(url).fetch_plate(f"s3://{BUCKET}/shots/dog.mp4", tmp_path)
    assert "access denied (InvalidAccessKeyId)" in one_line(info.value)


def test_unreachable_server_is_worth_a_retry(tmp_path):
    with aws_env(), pytest.raises(StorageUnavailable) as info:
        S3Store(f"http://127.0.0.1:{free_port()}", max_attempts=1).fetch_plate(
            f"s3://{BUCKET}/shots/dog.mp4", tmp_path
        )
    assert "cannot reach http://127.0.0.1:" in one_line(info.value)


def test_plate_signature_of_an_s3_plate_follows_its_objects(endpoint, client, tmp_path):
    """The nightly batch's signature of an ``s3://`` plate: the same while the objects are, changed
    by a rewritten, an added and a removed frame; read from a listing, nothing downloaded."""
    for f in range(1, 4):
        put(client, f"sig/sh050/sh050.{f:04d}.jpg", os.urandom(500))
    settings = Settings(home=tmp_path, s3_endpoint_url=endpoint)
    url = f"s3://{BUCKET}/sig/sh050/sh050.####.jpg"
    with aws_env():
        first = plate_signature(url, settings)
        assert plate_signature(url, settings) == first
        put(client, "sig/sh050/sh050.0002.jpg", os.urandom(500))  # same size, new bytes
        rewritten = plate_signature(url, settings)
        put(client, "sig/sh050/sh050.0004.jpg", os.urandom(500))
        added = plate_signature(url, settings)
        client.delete_object(Bucket=BUCKET, Key="sig/sh050/sh050.0001.jpg")
        removed = plate_signature(url, settings)
        with pytest.raises(StorageError):
            plate_signature(f"s3://{BUCKET}/sig/nothing-here.mov", settings)
    assert len({first, rewritten, added, removed}) == 4
    assert not (tmp_path / "cache").exists()
    local = tmp_path / "plate.mov"
    local.write_bytes(b"x")
    assert plate_signature(str(local), settings) == ingest_signature(local)
