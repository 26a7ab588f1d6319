"""Export stage with a matte format: ``--format nuke,cryptomatte`` on real footage (DAVIS-2016
``blackswan`` frames renumbered from 1001, soft alphas made from the ground truth of two
sequences as the matte stage's output) lists ``cryptomatte/<shot>.<frame>.exr`` per frame, and
``rotoflow export`` writes the same files from a published shot folder; an independent decoder
(``cryptomatte-api``) extracts each object's alpha from them by name."""

from __future__ import annotations

import shutil

import cryptomatte_api
import cv2
import numpy as np
import pytest

from exporters import shapes_json
from rotoflow.errors import ExportError
from rotoflow.mattes import output_name, read_alpha_exr, write_alpha_exr, write_mask_png
from rotoflow.prompts import ShotPrompts
from rotoflow.types import RotoShape, ShapeKey, ShotFormat
from rotoflow.workspace import ShotWorkspace, StageOutput, fingerprint
from tasks import reexport
from tasks.stages import export, ingest, matte, vectorize
from tests.conftest import davis_frames, davis_masks

SHOT = "bs010"
N = 3
FIRST = 1001
NAMES = ["swan", "dog-2"]  # object names: safe path components, as the stages make them


def _soft(seq: str, i: int) -> np.ndarray:
    mask = cv2.imread(str(davis_masks(seq) / f"{i:05d}.png"), cv2.IMREAD_GRAYSCALE) > 127
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 3.0)


def _square(object_id: int, name: str) -> RotoShape:
    pts = np.zeros((4, 3, 2))
    pts[:, 0] = [(100, 100), (300, 100), (300, 300), (100, 300)]
    return RotoShape(object_id=object_id, name=name, keys=[ShapeKey(FIRST, pts)])


@pytest.fixture(scope="module")
def shot(tmp_path_factory, shared):
    root = tmp_path_factory.mktemp("export")
    plate = root / "plate"
    plate.mkdir()
    for i in range(N):
        (plate / f"blackswan.{FIRST + i:04d}.jpg").symlink_to(
            davis_frames("blackswan") / f"{i:05d}.jpg"
        )
    prompts = ShotPrompts.model_validate(
        {"objects": [{"id": 1, "name": "swan", "boxes": [{"x0": 1, "y0": 1, "x1": 50, "y1": 50}]}]}
    )
    ws = ShotWorkspace(root / "out" / SHOT)
    ing = ingest.run(str(plate), prompts, ws, fingerprint("ingest", 1))
    padding = ingest.plate_info(ing).padding
    prop_dir, mat_dir = ws.stage_dir("propagate", "p" * 64), ws.stage_dir("matte", "m" * 64)
    alphas = {}
    for i in range(N):
        frame = FIRST + i
        for name, seq in zip(NAMES, ("blackswan", "dog"), strict=True):
            alpha = _soft(seq, i)
            write_mask_png(prop_dir / name / output_name(name, frame, padding, "png"), alpha > 0.5)
            path = mat_dir / name / output_name(name, frame, padding, "exr")
            write_alpha_exr(path, alpha)
            alphas[name, frame] = read_alpha_exr(path)  # the published alpha, half precision
    objects = [{"id": i, "name": n} for i, n in enumerate(NAMES, 1)]
    prop = StageOutput(
        stage="propagate",
        key="p" * 64,
        path=str(prop_dir),
        details={"padding": padding, "objects": objects},
    )
    mat = StageOutput(stage="matte", key="m" * 64, path=str(mat_dir), details={"padding": padding})
    vec_dir = ws.stage_dir("vectorize", "v" * 64)
    fmt = ShotFormat(854, 480, first_frame=FIRST, last_frame=FIRST + N - 1)
    shapes = [_square(i, n) for i, n in enumerate(NAMES, 1)]
    vec_dir.mkdir(parents=True, exist_ok=True)
    (vec_dir / vectorize.SHAPES).write_text(shapes_json.write_to_string(shapes, fmt))
    vec = StageOutput(
        stage="vectorize", key="v" * 64, path=str(vec_dir), details={"objects": objects}
    )
    out = export.run(SHOT, ing, prop, mat, vec, ws, "e" * 64, formats=("nuke", "cryptomatte"))
    return {"out": out, "alphas": alphas, "root": root, "padding": padding, "mat": mat}


def _check_decoded(path, frame, alphas) -> None:
    [decoded] = cryptomatte_api.Cryptomatte.load(str(path))
    assert sorted(decoded.masks()) == sorted(NAMES)
    for name in NAMES:
        np.testing.assert_allclose(decoded.mask(name), alphas[name, frame], atol=1e-3)


def test_the_stage_lists_a_cryptomatte_file_per_frame(shot):
    out, padding = shot["out"], shot["padding"]
    sources = export.sources(out)
    expected = [f"cryptomatte/{SHOT}.{FIRST + i:0{padding}d}.exr" for i in range(N)]
    assert sorted(r for r in sources if r.startswith("cryptomatte/")) == expected
    assert f"roto/{SHOT}.nk" in sources and sources[f"roto/{SHOT}.nk"].is_file()
    kinds = {r.path: r.kind for r in out.outputs()}
    assert all(kinds[r] == "cryptomatte" for r in expected)
    for i, rel in enumerate(expected):
        _check_decoded(sources[rel], FIRST + i, shot["alphas"])


def test_export_writes_cryptomatte_from_a_published_shot_folder(shot):
    shot_dir = shot["root"] / "published" / SHOT
    for rel, src in export.sources(shot["out"]).items():
        if rel.startswith(("alpha/", "roto/")):
            (shot_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, shot_dir / rel)
    rows = reexport._write(
        shot_dir / "roto" / f"{SHOT}.shapes.json", SHOT, shot_dir, ["svg", "cryptomatte"], 0
    )
    crypto = [r.path for r in rows if r.kind == "cryptomatte"]
    padding = shot["padding"]
    # a start frame moves the roto keys only: mattes keep the plate's frame numbers
    assert crypto == [f"cryptomatte/{SHOT}.{FIRST + i:0{padding}d}.exr" for i in range(N)]
    assert {r.start_frame for r in rows if r.kind == "cryptomatte"} == {None}
    assert {r.start_frame for r in rows if r.kind == "svg"} == {0}
    assert any(r.kind == "svg" and r.path.startswith("roto/") for r in rows)
    for i, rel in enumerate(crypto):
        _check_decoded(shot_dir / rel, FIRST + i, shot["alphas"])
    for p in (shot_dir / "alpha" / "dog-2").glob("*.exr"):
        p.unlink()
    with pytest.raises(ExportError, match="no published alpha"):
        reexport._write(
            shot_dir / "roto" / f"{SHOT}.shapes.json", SHOT, shot_dir, ["cryptomatte"], None
        )


def test_formats_of_one_frame_are_refused_and_matte_formats_taken():
    export.check_formats(["nuke", "cryptomatte"])
    with pytest.raises(ExportError, match="'exr' writes images.*matte formats: cryptomatte"):
        export.check_formats(["exr"])
    assert export.is_matte_format("cryptomatte") and not export.is_matte_format("nuke")


def test_stage_alphas_read_the_matte_stage(shot):
    frames = list(export.stage_alphas(shot["mat"], NAMES, range(FIRST, FIRST + N)))
    assert [f for f, _ in frames] == list(range(FIRST, FIRST + N))
    for frame, mattes in frames:
        for name in NAMES:
            np.testing.assert_array_equal(mattes[name], shot["alphas"][name, frame])
    assert matte.alpha_path(shot["mat"], "swan", FIRST).is_file()
