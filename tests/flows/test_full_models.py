"""The ``full`` model set end to end: Grounding DINO, SAM 2 and ViTMatte (tiny random weights in the
real formats) loaded from a local model store, offline; corrections reuse the runs they do not
touch; a crashed propagation resumes; a missing model fails fast with the store's message."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from apps.cli import app
from models.registry import load_model_set
from models.tiny import stage as stage_tiny
from rotoflow import db
from rotoflow.mattes import read_alpha_exr, read_mask_png
from rotoflow.pipeline import RotoJob, resolve
from rotoflow.prompts import ShotPrompts
from rotoflow.settings import get_settings
from rotoflow.workspace import ShotWorkspace
from tasks.stages import detect, ingest, propagate, segment
from tests.flows.helpers import frame_folder, gt_box, use_home

pytestmark = pytest.mark.e2e
N = 8


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("full")
    use_home(home)
    # SAM 2 at image size 128 (the real architecture, a quarter of the tiny builder's pixels).
    stage_tiny(home / "models", sam2_overrides=["++model.image_size=128"])
    os.environ["ROTOFLOW_MODEL_DIR"] = str(home / "models")
    os.environ["ROTOFLOW_OFFLINE"] = "1"
    get_settings.cache_clear()
    yield home
    for k in ("ROTOFLOW_MODEL_DIR", "ROTOFLOW_OFFLINE"):
        os.environ.pop(k, None)
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def plate(home):
    return frame_folder("car-shadow", home / "plates" / "car", range(N))


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_text_prompt_runs_every_stage_with_the_full_set(home, plate):
    result = invoke("run", str(plate), "--prompt", "the car", "--models", "full", "--shot", "c1")
    assert result.exit_code == 0, result.output
    shot = home / "out" / "default" / "c1"
    masks = sorted((shot / "masks" / "car").glob("car.*.png"))
    alphas = sorted((shot / "alpha" / "car").glob("car.*.exr"))
    assert [p.name for p in masks] == [f"car.{f:05d}.png" for f in range(N)]
    assert len(alphas) == N
    assert (shot / "roto" / "c1.nk").is_file() and (shot / "roto" / "c1.shapes.json").is_file()
    mask, alpha = read_mask_png(masks[3]), read_alpha_exr(alphas[3])
    assert mask.shape == alpha.shape == (480, 854)
    # Known trimap pixels keep their value: deep inside the mask alpha is 1, far outside 0.
    assert mask.any() and (~mask).any()
    with db.session(get_settings().resolved_database_url()) as s:
        job = s.exec(select(db.Job).order_by(db.Job.id.desc())).first()
    assert job.status == db.Status.done
    assert job.models["detector"].startswith("grounding-dino-tiny@")
    assert job.models["tracker"].startswith("sam2.1-hiera-tiny@")
    assert job.models["matter"].startswith("vitmatte-small@")
    assert len(job.models["tracker_sha256"]) == 64


def _prompts_file(home: Path, keyframes: list[int]) -> Path:
    box = gt_box("car-shadow")
    path = home / f"prompts-{'-'.join(map(str, keyframes))}.json"
    objs = [{"id": 1, "name": "car", "boxes": [{**box, "frame": f} for f in keyframes]}]
    path.write_text(json.dumps({"objects": objs}))
    return path


def test_a_correction_repropagates_only_the_runs_it_splits(home, plate):
    def run(keys):
        args = ["run", str(plate), "--prompts", str(_prompts_file(home, keys))]
        result = invoke(*args, "--models", "full", "--shot", "c2")
        assert result.exit_code == 0, result.output

    run([0, 4])
    run([0, 4, 6])
    folders = sorted(
        (
            d
            for d in (home / "out" / "default" / "c2" / ".rotoflow").glob("propagate-*")
            if d.is_dir()
        ),
        key=lambda d: d.stat().st_mtime,
    )
    first, second = folders[-2:]
    runs = json.loads((second / "runs.json").read_text())["car"]
    assert sorted(tuple(v) for v in runs.values()) == [(0, 4), (4, 6), (6, 7)]

    def inode(folder, f):
        return (folder / "car" / f"car.{f:05d}.png").stat().st_ino

    # Frames 0-3 come from the untouched run: the same files, linked, not recomputed (keyframe 4
    # is also written again by the run it starts, with the same mask).
    assert all(inode(first, f) == inode(second, f) for f in range(0, 4))
    key4 = [read_mask_png(d / "car" / "car.00004.png") for d in (first, second)]
    assert np.array_equal(*key4)
    assert all(inode(first, f) != inode(second, f) for f in (5, 7))


class Crash(RuntimeError):
    pass


def test_a_crashed_propagation_resumes_and_equals_an_uninterrupted_one(home, plate, monkeypatch):
    prompts = ShotPrompts.model_validate(
        {"objects": [{"id": 1, "name": "car", "boxes": [gt_box("car-shadow")]}]}
    )
    job = resolve(
        RotoJob(plate=str(plate), prompts=prompts, models="full", shot="resume"), get_settings()
    )
    models = load_model_set(job)
    sam = models.tracker

    def stages(ws: ShotWorkspace):
        ing = ingest.run(str(plate), prompts, ws, "i")
        det = detect.run(prompts, ing, ws, "d", models.detector)
        seg = segment.run(ing, det, ws, "s", models.segmenter)
        return ing, det, seg

    whole_ws = ShotWorkspace(home / "resume" / "whole")
    whole = propagate.run(*stages(whole_ws), whole_ws, "p", sam)

    ws = ShotWorkspace(home / "resume" / "crashed")
    ing, det, seg = stages(ws)
    monkeypatch.setattr(sam, "chunk", 2)
    reads: list[int] = []
    original = sam.propagate

    def crashing(read, *a, **kw):
        def counted(frame):
            reads.append(frame)
            if frame == 5 and crash[0]:
                raise Crash("node lost")
            return read(frame)

        return original(counted, *a, **kw)

    crash = [True]
    monkeypatch.setattr(sam, "propagate", crashing)
    with pytest.raises(Crash):
        propagate.run(ing, det, seg, ws, "p", sam)
    assert (ws.work / "propagate-p.partial").is_dir()
    crash[0], reads[:] = False, []
    resumed = propagate.run(ing, det, seg, ws, "p", sam)
    # Frames 0-3 were checkpointed (chunks of 2): only frames 4.. are read again.
    assert min(reads) == 4
    assert not (ws.work / "propagate-p.partial").exists()
    for f in range(N):
        a = propagate.read_mask(whole, "car", f)
        b = propagate.read_mask(resumed, "car", f)
        assert np.array_equal(a, b), f"frame {f}"


def test_missing_weights_offline_fail_in_seconds_with_the_pull_command(home, plate, monkeypatch):
    monkeypatch.setenv("ROTOFLOW_MODEL_DIR", str(home / "empty-store"))
    monkeypatch.delenv("ROTOFLOW_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: no hub
    get_settings.cache_clear()
    t0 = time.perf_counter()
    result = invoke("run", str(plate), "--prompt", "car", "--models", "full", "--shot", "c3")
    elapsed = time.perf_counter() - t0
    get_settings.cache_clear()
    assert result.exit_code == 2
    message = result.stderr.strip().splitlines()[-1]
    assert "grounding-dino-tiny" in message and "rotoflow models pull" in message
    assert str(home / "empty-store") in message
    assert elapsed < 10


def test_every_missing_model_is_named_in_one_message(home, plate, monkeypatch):
    monkeypatch.setenv("ROTOFLOW_MODEL_DIR", str(home / "empty-store"))
    get_settings.cache_clear()
    result = invoke("run", str(plate), "--prompt", "car", "--models", "full", "--shot", "c5")
    get_settings.cache_clear()
    assert result.exit_code == 2
    message = result.stderr.strip().splitlines()[-1]
    assert "3 models are not available" in message
    assert "rotoflow models pull grounding-dino-tiny sam2.1-hiera-tiny vitmatte-small" in message


def test_box_prompts_run_the_full_set_without_its_detector(home, plate, monkeypatch):
    store = home / "no-detector"
    for folder in ("facebook/sam2.1-hiera-tiny", "hustvl/vitmatte-small-composition-1k"):
        (store / folder).parent.mkdir(parents=True, exist_ok=True)
        (store / folder).symlink_to(home / "models" / folder)
    monkeypatch.setenv("ROTOFLOW_MODEL_DIR", str(store))
    get_settings.cache_clear()
    args = ["run", str(plate), "--prompts", str(_prompts_file(home, [0])), "--models", "full"]
    result = invoke(*args, "--shot", "c6")
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    with db.session(get_settings().resolved_database_url()) as s:
        job = s.exec(select(db.Job).order_by(db.Job.id.desc())).first()
    assert job.models["detector"] == "grounding-dino-tiny@unused"
    assert "detector_sha256" not in job.models


def test_unknown_stage_model_is_rejected(home, plate):
    result = invoke("run", str(plate), "--prompt", "car", "--tracker", "sam3", "--shot", "c4")
    assert result.exit_code == 2
    assert "sam2.1-hiera-tiny" in result.stderr  # the message lists the choices
