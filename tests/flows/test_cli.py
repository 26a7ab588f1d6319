"""The ``rotoflow`` command on good and bad input: one-line errors, non-zero exits, failed jobs
recorded with their reason, and nothing published that looks finished."""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from apps.cli import app
from rotoflow import db
from rotoflow.evaluation import read_mask
from rotoflow.settings import get_settings
from rotoflow.workspace import sha256_file
from tests.conftest import SHARED, davis_masks, free_port
from tests.flows.conftest import BIN
from tests.flows.helpers import frame_folder, use_home
from tests.s3server import aws_env

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("cli")
    use_home(home)
    return home


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def last_job(shot: str) -> db.Job:
    with db.session(get_settings().resolved_database_url()) as s:
        sh = s.exec(select(db.Shot).where(db.Shot.name == shot)).one()
        job = s.exec(
            select(db.Job).where(db.Job.shot_id == sh.id).order_by(db.Job.id.desc())
        ).first()
        assert sh.status == job.status
        return job


def assert_failed_cleanly(result, home: Path, shot: str, *words: str, code: int = 2) -> None:
    """Exit ``code``, one error line (the last) holding ``words``, the job failed with a reason
    the line holds (``code`` 1: a reason naming what the line names), nothing published."""
    assert result.exit_code == code, result.output
    # stderr may hold the progress bars drawn before the failure; the error is one line, the last.
    lines = result.stderr.strip().splitlines()
    assert [line for line in lines if "error" in line.lower()] == lines[-1:], lines
    message = lines[-1]
    assert message.startswith("error: ")
    for w in words:
        assert w in message, message
    job = last_job(shot)
    assert job.status == db.Status.failed
    if code == 2:
        assert job.error and job.error in message
    else:  # the line says what happened in words; the job records the error as raised
        assert job.error and job.error.split(": ")[-1].strip("'") in message, job.error
    shot_dir = home / "out" / "default" / shot
    for published in ("masks", "alpha", "roto"):
        assert not (shot_dir / published).exists()
    assert not list(shot_dir.glob(".rotoflow/*.partial-*"))


def test_truncated_movie(home, tmp_path):
    data = (SHARED / "data/sam2/bedroom.mp4").read_bytes()
    clip = tmp_path / "trunc.mp4"
    clip.write_bytes(data[: len(data) // 2])
    result = invoke("run", str(clip), "--prompt", "person")
    assert_failed_cleanly(result, home, "trunc", "trunc.mp4")


def test_empty_folder(home, tmp_path):
    (tmp_path / "empty_plate").mkdir()
    result = invoke("run", str(tmp_path / "empty_plate"), "--prompt", "person")
    assert_failed_cleanly(result, home, "empty_plate", "empty_plate", "empty")


def test_sequence_with_a_missing_frame(home, tmp_path):
    plate = frame_folder("car-shadow", tmp_path / "gappy", range(10))
    (plate / "00005.jpg").unlink()
    result = invoke("run", str(plate), "--prompt", "car")
    assert_failed_cleanly(result, home, "gappy", "missing")
    assert re.search(r"\b5\b", result.stderr)


def test_text_prompt_that_matches_nothing(home, tmp_path):
    plate = frame_folder("car-shadow", tmp_path / "nothing", range(5))
    result = invoke("run", str(plate), "--prompt", "unicorn")
    assert_failed_cleanly(result, home, "nothing", "unicorn", "--box", "person")


def test_box_outside_the_frame(home, tmp_path):
    plate = frame_folder("car-shadow", tmp_path / "offscreen", range(5))
    result = invoke("run", str(plate), "--box", "900,10,1000,50")
    assert_failed_cleanly(result, home, "offscreen", "outside the 854x480 frame")


def test_frame_outside_the_plate(home, tmp_path):
    plate = frame_folder("car-shadow", tmp_path / "short", range(5))
    result = invoke("run", str(plate), "--prompt", "car", "--frame", "12")
    assert_failed_cleanly(result, home, "short", "frame 12", "0-4")


def test_malformed_box_is_rejected_before_any_work(home, tmp_path):
    result = invoke("run", str(tmp_path), "--box", "1,2,3")
    assert result.exit_code == 2
    assert "--box" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_unknown_prompt_key_is_an_error_naming_it(home, tmp_path):
    """A typo ``"frme"`` in a prompts file used to move the box to the first frame silently."""
    prompts = tmp_path / "typo.json"
    prompts.write_text(
        '{"objects": [{"id": 1, "name": "car", "boxes": '
        '[{"frme": 3, "x0": 250, "y0": 177, "x1": 690, "y1": 358}]}]}'
    )
    result = invoke("run", str(tmp_path), "--prompts", str(prompts))
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(
        "error: invalid prompt (objects.0.boxes.0.frme): Extra inputs are not permitted"
    ), line
    assert "frame, x0, y0, x1, y1" in line


@pytest.mark.parametrize(
    "args, where",
    [(("--box", "inf,0,10,10"), "boxes.0.x0"), (("--point", "5,nan"), "points.0.y")],
)
def test_non_finite_coordinates_are_rejected_before_any_work(home, tmp_path, args, where):
    result = invoke("run", str(tmp_path), *args)
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert f"invalid prompt (objects.0.{where})" in line and "finite number" in line, line


#: A progress bar line as rich draws it on a non-terminal stderr ("ingest   ━━━╸   2/3 0:00:01").
PROGRESS_LINE = re.compile(r"^[a-z][a-z-]* +[━╸╺ ]* +\d+/\d+( |$)")


def test_mixed_resolutions_fail_with_one_line_and_nothing_after(home, tmp_path):
    """A real ``rotoflow`` process: the error is the last line of stderr, with only progress bars
    before it; OpenImageIO's bindings used to print ~20 "nanobind: leaked" lines after it at exit
    (a header object kept alive by the failed task's traceback)."""
    plate = tmp_path / "mixedres"
    plate.mkdir()
    for i, height in enumerate((48, 48, 24)):
        cv2.imwrite(str(plate / f"mixedres.{i:04d}.png"), np.full((height, 64, 3), 90, np.uint8))
    run = subprocess.run(
        [str(BIN / "rotoflow"), "run", str(plate), "--box", "1,1,20,20"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    expected = f"error: {plate / 'mixedres.0002.png'}: frame 2 is 64x24, the plate is 64x48"
    assert lines[-1] == expected, lines
    assert [line for line in lines[:-1] if not PROGRESS_LINE.match(line)] == [], lines


def write_exr(path: Path, pixels: np.ndarray) -> None:
    """A half-float EXR of ``(H, W, C)`` pixels."""
    import OpenImageIO as oiio

    h, w, c = pixels.shape
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), oiio.ImageSpec(w, h, c, "half")), oiio.geterror()
    assert out.write_image(pixels), out.geterror()
    out.close()


def test_damaged_exr_header_fails_with_the_file_named(home, tmp_path):
    """A header OpenImageIO cannot parse, whose error message quotes bytes that are not UTF-8:
    exit 2 naming the file (it was exit 1 with a bare UnicodeDecodeError)."""
    plate = tmp_path / "badexr"
    plate.mkdir()
    for frame in range(3):
        write_exr(plate / f"badexr.{frame:04d}.exr", np.full((48, 64, 3), 0.18, np.float32))
    damaged = plate / "badexr.0001.exr"
    damaged.write_bytes(damaged.read_bytes().replace(b"chlist", b"\xff\xfelist", 1))
    result = invoke("run", str(plate), "--box", "1,1,20,20")
    assert_failed_cleanly(result, home, "badexr", f"{damaged}: frame 1 cannot be read")


def test_full_disk_exits_1_naming_the_file(home, tmp_path, monkeypatch):
    """The disk fills while ingest writes its proxy frames: exit 1 (not the bad-input 2, as when
    OpenCV's writer reported only "cannot write proxy frame") with what happened and where."""
    plate = frame_folder("dog", tmp_path / "fulldisk", range(3))
    write_bytes = Path.write_bytes

    def full_disk(path: Path, data) -> int:
        if path.name.startswith("frame.") and ".partial-" in path.parent.name:
            path.touch()  # what a full disk leaves: a file cut short
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return write_bytes(path, data)

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    result = invoke("run", str(plate), "--box", "100,100,300,300")
    monkeypatch.undo()
    ingest = home / "out" / "default" / "fulldisk" / ".rotoflow" / "ingest-"
    assert_failed_cleanly(
        result, home, "fulldisk", f"error: no space left on device writing {ingest}", code=1
    )
    assert re.search(r"\.partial-[^/]+/frame\.00000\.png$", result.stderr.strip()), result.stderr
    assert not list((home / "out" / "default" / "fulldisk" / ".rotoflow").glob("ingest-*"))


def test_unreachable_object_storage_exits_1(home):
    """An ``s3://`` plate on a server that does not answer: exit 1 (it was 2, as for bad input)
    saying that object storage cannot be reached."""
    with aws_env(), pytest.MonkeyPatch.context() as mp:
        mp.setenv("ROTOFLOW_S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
        get_settings.cache_clear()
        result = invoke("run", "s3://plates/shots/nowhere/", "--box", "1,1,20,20")
    get_settings.cache_clear()
    assert_failed_cleanly(
        result, home, "nowhere", "error: object storage unreachable: s3://plates/", code=1
    )
    assert "cannot reach http://127.0.0.1:" in result.stderr


def test_too_many_objects_are_refused_before_any_work(home, tmp_path):
    """1000 objects on a 3-frame shot used to run for minutes; the cap is ROTOFLOW_MAX_OBJECTS."""
    prompts = tmp_path / "crowd.json"
    box = {"x0": 10, "y0": 10, "x1": 20, "y1": 20}
    objects = [{"id": i, "name": f"o{i}", "boxes": [box]} for i in range(1, 1001)]
    prompts.write_text(json.dumps({"objects": objects}))
    result = invoke("run", str(tmp_path), "--prompts", str(prompts))
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "1000 objects" in line and "limit of 100" in line and "ROTOFLOW_MAX_OBJECTS" in line


def test_all_matches_beyond_the_object_limit_fail_at_detect(home, tmp_path, monkeypatch):
    plate = frame_folder("car-roundabout", tmp_path / "manycars", range(3))
    monkeypatch.setenv("ROTOFLOW_MAX_OBJECTS", "2")
    get_settings.cache_clear()
    result = invoke("run", str(plate), "--prompt", "car", "--all-matches")
    monkeypatch.undo()
    get_settings.cache_clear()
    assert_failed_cleanly(
        result, home, "manycars", "'car''s text prompt 'car' found", "limit of 2", "MAX_OBJECTS"
    )
    assert re.search(
        r"found (\d+) matches on frame 0: the shot would have \1 objects", result.stderr
    )


def short_movie(path: Path, frames: int) -> Path:
    """The first ``frames`` frames of bedroom.mp4, re-encoded with PyAV."""
    with av.open(str(SHARED / "data/sam2/bedroom.mp4")) as src, av.open(str(path), "w") as dst:
        stream = src.streams.video[0]
        out = dst.add_stream("libx264", rate=stream.average_rate)
        out.width, out.height, out.pix_fmt = stream.width, stream.height, "yuv420p"
        for i, frame in enumerate(src.decode(stream)):
            if i == frames:
                break
            for packet in out.encode(frame.reformat(format="yuv420p")):
                dst.mux(packet)
        for packet in out.encode():
            dst.mux(packet)
    return path


def test_movie_file_writes_every_output(home, tmp_path):
    clip = short_movie(tmp_path / "bedroom_short.mp4", 8)
    result = invoke("run", str(clip), "--prompt", "person")
    assert result.exit_code == 0, result.output
    shot = home / "out" / "default" / "bedroom_short"
    masks = sorted(p.name for p in (shot / "masks" / "person").iterdir())
    alphas = sorted(p.name for p in (shot / "alpha" / "person").iterdir())
    assert len(masks) == len(alphas) == 8
    assert re.fullmatch(r"person\.0*1\.png", masks[0]) and re.fullmatch(
        r"person\.0*8\.png", masks[-1]
    )
    assert (shot / "roto" / "bedroom_short.nk").is_file()
    assert last_job("bedroom_short").status == db.Status.done


def test_status_lists_shots_and_jobs(home):
    result = invoke("status")
    assert result.exit_code == 0
    assert "bedroom_short" in result.stdout and "failed" in result.stdout


def test_eval_prints_j_and_f(home, tmp_path):
    result = invoke(
        "eval", str(davis_masks("car-shadow")), str(davis_masks("car-shadow")), "--json"
    )
    assert result.exit_code == 0
    assert '"jf": 1.0' in result.stdout.replace("1.0000", "1.0")


def test_several_objects_and_keyframes_from_a_prompts_file(home, tmp_path):
    """Two objects: one boxed on two keyframes (forward and backward propagation blended between
    them), one given by text; each gets its own masks, alpha and roto shape."""
    from exporters import nuke
    from rotoflow.evaluation import region_similarity

    plate = frame_folder("car-roundabout", tmp_path / "roundabout", range(8))
    prompts = tmp_path / "objects.json"
    prompts.write_text(
        '{"objects": ['
        '{"id": 1, "name": "hero_car", "boxes": ['
        '{"frame": 0, "x0": 250, "y0": 177, "x1": 690, "y1": 358},'
        '{"frame": 5, "x0": 220, "y0": 173, "x1": 673, "y1": 356}]},'
        '{"id": 2, "name": "car", "text": "car", "points": [{"frame": 3, "x": 470, "y": 270}]}'
        "]}"
    )
    result = invoke("run", str(plate), "--prompts", str(prompts))
    assert result.exit_code == 0, result.output
    shot = home / "out" / "default" / "roundabout"
    for name in ("hero_car", "car"):
        assert len(list((shot / "masks" / name).iterdir())) == 8
        assert len(list((shot / "alpha" / name).iterdir())) == 8
    # Frames between the two keyframes get both directions; all should follow the car.
    for frame in (1, 2, 3, 4, 6, 7):
        pred = read_mask(shot / "masks" / "hero_car" / f"hero_car.{frame:05d}.png")
        gt = read_mask(davis_masks("car-roundabout") / f"{frame:05d}.png")
        assert region_similarity(pred, gt) > 0.6, frame
    _, shapes = nuke.read_from_string((shot / "roto" / "roundabout.nk").read_text())
    assert {s.name for s in shapes} == {"car", "hero_car"}
    assert all(s.keys[0].frame >= 0 and s.keys[-1].frame <= 7 for s in shapes)


def test_all_matches_makes_every_detection_its_own_object(home, tmp_path):
    plate = frame_folder("car-roundabout", tmp_path / "cars", range(3))
    result = invoke("run", str(plate), "--prompt", "car", "--all-matches")
    assert result.exit_code == 0, result.output
    shot = home / "out" / "default" / "cars"
    names = sorted(p.name for p in (shot / "masks").iterdir())
    assert len(names) >= 3 and names[:3] == ["car_1", "car_2", "car_3"]
    assert all(len(list((shot / "masks" / n).iterdir())) == 3 for n in names)
    with db.session(get_settings().resolved_database_url()) as s:
        sh = s.exec(select(db.Shot).where(db.Shot.name == "cars")).one()
        objs = s.exec(select(db.RotoObject).where(db.RotoObject.shot_id == sh.id)).all()
    assert set(names) <= {o.name for o in objs}


def test_mask_prompt_is_the_keyframe_mask(home, tmp_path):
    plate = frame_folder("dog", tmp_path / "dogmask", range(3))
    gt = davis_masks("dog") / "00000.png"
    result = invoke("run", str(plate), "--mask", str(gt), "--name", "dog")
    assert result.exit_code == 0, result.output
    first = home / "out" / "default" / "dogmask" / "masks" / "dog" / "dog.00000.png"
    assert (read_mask(first) == read_mask(gt)).all()


def test_mask_prompt_of_another_size_is_rejected(home, tmp_path):
    plate = frame_folder("dog", tmp_path / "badmask", range(3))
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), np.full((10, 10), 255, np.uint8))
    result = invoke("run", str(plate), "--mask", str(small), "--name", "dog")
    assert_failed_cleanly(result, home, "badmask", "10x10", "854x480")


def test_export_rewrites_roto_formats_from_the_database(home, tmp_path):
    plate = frame_folder("dog", tmp_path / "dogexport", range(3))
    assert invoke("run", str(plate), "--prompt", "dog").exit_code == 0
    roto = home / "out" / "default" / "dogexport" / "roto"
    (roto / "dogexport.nk").unlink()
    result = invoke("export", "dogexport", "--format", "nuke,shapes_json,svg")
    assert result.exit_code == 0, result.output
    assert (roto / "dogexport.nk").is_file() and (roto / "dogexport.json").is_file()
    svgs = sorted((roto / "dogexport.svg").glob("*.svg"))  # a file per frame
    assert f"svg: 3 files in {roto / 'dogexport.svg'}" in result.stdout
    with db.session(get_settings().resolved_database_url()) as s:
        added = s.exec(select(db.Output).where(db.Output.kind.in_(["shapes_json", "svg"]))).all()
    assert sorted((o.kind, o.path) for o in added) == [
        ("shapes_json", str(roto / "dogexport.json")),
        *[("svg", str(p)) for p in svgs],
    ]
    assert all(o.sha256 == sha256_file(Path(o.path)) for o in added)

    bad = invoke("export", "dogexport", "--format", "nuke,maya")
    assert bad.exit_code == 2 and "maya" in bad.stderr and "nuke" in bad.stderr
    missing = invoke("export", "no_such_shot")
    assert missing.exit_code == 2 and "no_such_shot" in missing.stderr
    bad_run = invoke("run", str(plate), "--prompt", "dog", "--format", "maya")
    assert bad_run.exit_code == 2 and "maya" in bad_run.stderr


def test_svg_roto_format_writes_one_file_per_frame(home, tmp_path):
    plate = frame_folder("dog", tmp_path / "dogsvg", range(3))
    result = invoke("run", str(plate), "--prompt", "dog", "--format", "nuke,svg")
    assert result.exit_code == 0, result.output
    svgs = sorted((home / "out" / "default" / "dogsvg" / "roto" / "dogsvg.svg").glob("*.svg"))
    assert [p.name for p in svgs] == [f"dogsvg.{f:04d}.svg" for f in range(3)]
    assert "<path" in svgs[1].read_text()


@pytest.mark.parametrize("damage", ["garbage", "empty"])
def test_unreadable_mask_fails_the_rerun_with_its_path(home, tmp_path, monkeypatch, damage):
    """A mask file damaged after a finished run (bytes that are no image, or an empty file): the
    re-run that reads it fails with one line naming the file; the job is recorded as failed and
    the outputs of the earlier run are left as they were."""
    shot = f"dogmask{damage}"
    monkeypatch.delenv("ROTOFLOW_TRIMAP_BAND", raising=False)
    get_settings.cache_clear()
    plate = frame_folder("dog", tmp_path / shot, range(3))
    assert invoke("run", str(plate), "--prompt", "dog").exit_code == 0
    (mask,) = (home / "out" / "default" / shot / ".rotoflow").glob("propagate-*/dog/dog.00001.png")
    mask.write_bytes(b"\x89PNG not a mask" if damage == "garbage" else b"")
    roto = home / "out" / "default" / shot / "roto" / f"{shot}.nk"
    before = roto.read_bytes()
    monkeypatch.setenv("ROTOFLOW_TRIMAP_BAND", "20")  # the matte, vectorize and export re-run
    get_settings.cache_clear()
    result = invoke("run", str(plate), "--prompt", "dog")
    monkeypatch.undo()
    get_settings.cache_clear()
    assert result.exit_code == 2, result.output
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("error: ") and "cannot read mask image" in message, message
    assert mask.name in message
    job = last_job(shot)
    assert job.status == db.Status.failed and job.error in message
    assert roto.read_bytes() == before
    assert not list((home / "out" / "default" / shot).glob(".rotoflow/*.partial-*"))
