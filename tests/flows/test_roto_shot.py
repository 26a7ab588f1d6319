"""End to end: real DAVIS-2016 shots through the Prefect roto flow (no server configured: Prefect
runs its ephemeral API in this process)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import select

from exporters import nuke
from flows.roto_shot import roto_shot
from rotoflow import db
from rotoflow.evaluation import evaluate_masks
from rotoflow.geometry import iou, rasterize_shapes
from rotoflow.mattes import read_alpha_exr, read_mask_png
from rotoflow.settings import get_settings
from rotoflow.workspace import sha256_file
from tests.conftest import davis_frames, davis_masks
from tests.flows.helpers import davis_job, use_home

pytestmark = pytest.mark.e2e

#: Sequence -> (prompt, J&F floor). The floors sit below the measured scores (see README) so that a
#: real regression fails while run-to-run noise does not.
SHOTS = {
    "car-shadow": ({"text": "car"}, 0.55),
    "dog": ({"box": True}, 0.70),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    use_home(home)
    results = {}
    for seq, (prompt, _) in SHOTS.items():
        t0 = time.perf_counter()
        result = roto_shot(davis_job(seq, **prompt))
        results[seq] = {**result, "seconds": time.perf_counter() - t0}
    return results


@pytest.mark.parametrize("seq", list(SHOTS))
def test_davis_j_and_f_floor(runs, seq):
    score = evaluate_masks(f"{runs[seq]['shot_dir']}/masks/object", davis_masks(seq))
    assert len(score.frames) == len(list(davis_frames(seq).glob("*.jpg"))) - 1
    assert score.jf >= SHOTS[seq][1], f"{seq}: J&F {score.jf:.3f}"


@pytest.mark.parametrize("seq", list(SHOTS))
def test_every_output_is_written_with_plate_frame_numbers(runs, seq):
    shot = Path(runs[seq]["shot_dir"])
    n = len(list(davis_frames(seq).glob("*.jpg")))
    assert sorted(p.name for p in (shot / "masks/object").iterdir()) == [
        f"object.{f:05d}.png" for f in range(n)
    ]
    assert sorted(p.name for p in (shot / "alpha/object").iterdir()) == [
        f"object.{f:05d}.exr" for f in range(n)
    ]
    assert (shot / f"roto/{seq}.nk").is_file() and (shot / f"roto/{seq}.shapes.json").is_file()
    mask = read_mask_png(shot / "masks/object/object.00010.png")
    alpha = read_alpha_exr(shot / "alpha/object/object.00010.exr")
    assert mask.shape == alpha.shape == (480, 854)
    soft = (alpha > 0.02) & (alpha < 0.98)
    assert soft.any(), "alpha has no soft edge"
    assert iou(alpha >= 0.5, mask) > 0.85
    assert not list(shot.glob(".publish-*")) and not list(shot.glob(".rotoflow/*.partial-*"))


@pytest.mark.parametrize("seq", list(SHOTS))
def test_nuke_script_reads_back_and_matches_the_masks(runs, seq):
    shot = Path(runs[seq]["shot_dir"])
    fmt, shapes = nuke.read_from_string((shot / f"roto/{seq}.nk").read_text())
    assert (fmt.width, fmt.height, fmt.first_frame, fmt.last_frame) == (
        854,
        480,
        0,
        len(list(davis_frames(seq).glob("*.jpg"))) - 1,
    )
    assert shapes and {s.name for s in shapes} == {"object"}
    # Every frame, between keys too, rasterises to the published mask.
    worst = 1.0
    for frame in range(fmt.first_frame, fmt.last_frame + 1):
        mask = read_mask_png(shot / f"masks/object/object.{frame:05d}.png")
        worst = min(worst, iou(rasterize_shapes(shapes, frame, 854, 480), mask))
    assert worst >= 0.95


def test_job_outputs_and_models_are_recorded(runs):
    url = get_settings().resolved_database_url()
    with db.session(url) as s:
        for seq, result in runs.items():
            job = s.get(db.Job, result["job_id"])
            shot = s.get(db.Shot, job.shot_id)
            assert job.status == db.Status.done and shot.status == db.Status.done
            assert (shot.name, shot.width, shot.height, shot.first_frame) == (seq, 854, 480, 0)
            assert set(job.timings) >= {
                "ingest",
                "detect",
                "segment",
                "propagate",
                "matte",
                "vectorize",
                "export",
            }
            assert set(job.models) == {"detector", "segmenter", "tracker", "matter"}
            outputs = s.exec(select(db.Output).where(db.Output.job_id == job.id)).all()
            n = len(list(davis_frames(seq).glob("*.jpg")))
            assert sorted({o.kind for o in outputs}) == ["alpha", "mask", "nuke", "shapes"]
            assert len(outputs) == 2 * n + 2
            for o in outputs[:: max(1, len(outputs) // 7)]:
                assert sha256_file(o.path) == o.sha256


def test_rerun_reuses_every_finished_stage(runs):
    seq = "car-shadow"
    work = Path(runs[seq]["shot_dir"]) / ".rotoflow"
    before = {p.parent.name: p.stat().st_mtime_ns for p in work.glob("*/manifest.json")}
    result = roto_shot(davis_job(seq, text="car"))
    after = {p.parent.name: p.stat().st_mtime_ns for p in work.glob("*/manifest.json")}
    assert after == before
    assert result["outputs"] == runs[seq]["outputs"]
    with db.session(get_settings().resolved_database_url()) as s:
        assert s.get(db.Job, result["job_id"]).status == db.Status.done


def test_changed_parameters_rerun_only_downstream_stages(runs, monkeypatch):
    seq = "car-shadow"
    work = Path(runs[seq]["shot_dir"]) / ".rotoflow"
    before = {p.parent.name for p in work.glob("*/manifest.json")}
    monkeypatch.setenv("ROTOFLOW_TRIMAP_BAND", "6")
    get_settings.cache_clear()
    try:
        roto_shot(davis_job(seq, text="car"))
    finally:
        monkeypatch.delenv("ROTOFLOW_TRIMAP_BAND")
        get_settings.cache_clear()
    added = sorted(
        p.parent.name.split("-")[0]
        for p in work.glob("*/manifest.json")
        if p.parent.name not in before
    )
    assert added == ["export", "matte", "qc", "vectorize"]  # the feather comes from the alpha
    alpha = read_alpha_exr(Path(runs[seq]["shot_dir"]) / "alpha/object/object.00005.exr")
    assert np.isfinite(alpha).all()
