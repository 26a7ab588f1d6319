"""QC of a finished shot on real footage: DAVIS-2016 ``blackswan`` frames renumbered from 1001, its
ground-truth masks as the propagate and matte stages' output, and a copy of them with one frame
blanked (an injected area jump)."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from rotoflow.errors import ConfigError
from rotoflow.mattes import output_name, write_alpha_exr, write_mask_png
from rotoflow.prompts import ShotPrompts
from rotoflow.workspace import ShotWorkspace, StageOutput, fingerprint
from tasks.stages import ingest, qc
from tests.conftest import davis_frames, davis_masks

SEQ = "blackswan"
N = 20
FIRST = 1001
GLITCH = 1010  # blanked in the ``glitch`` object's mattes; not one of the regular sheet frames


def _gt(i: int) -> np.ndarray:
    return cv2.imread(str(davis_masks(SEQ) / f"{i:05d}.png"), cv2.IMREAD_GRAYSCALE) > 127


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    root = tmp_path_factory.mktemp("qc")
    plate = root / "plate"
    plate.mkdir()
    for i in range(N):
        (plate / f"{SEQ}.{FIRST + i:04d}.jpg").symlink_to(davis_frames(SEQ) / f"{i:05d}.jpg")
    ys, xs = np.nonzero(_gt(0))
    prompts = ShotPrompts.model_validate(
        {
            "objects": [
                {
                    "id": 1,
                    "name": "swan",
                    "boxes": [
                        {"x0": xs.min(), "y0": ys.min(), "x1": xs.max() + 1, "y1": ys.max() + 1}
                    ],
                }
            ]
        }
    )
    ws = ShotWorkspace(root / "out" / SEQ)
    ing = ingest.run(str(plate), prompts, ws, fingerprint("ingest", 1))
    padding = ingest.plate_info(ing).padding
    names = ["swan", "glitch"]
    prop_dir, mat_dir = ws.stage_dir("propagate", "p" * 64), ws.stage_dir("matte", "m" * 64)
    gt_areas = []
    for i in range(N):
        frame, gt = FIRST + i, _gt(i)
        gt_areas.append(int(gt.sum()))
        for name in names:
            matte = np.zeros_like(gt) if (name == "glitch" and frame == GLITCH) else gt
            write_mask_png(prop_dir / name / output_name(name, frame, padding, "png"), matte)
            write_alpha_exr(
                mat_dir / name / output_name(name, frame, padding, "exr"),
                matte.astype(np.float32),
            )
    prop = StageOutput(
        stage="propagate",
        key="p" * 64,
        path=str(prop_dir),
        details={
            "padding": padding,
            "objects": [{"id": i, "name": n} for i, n in enumerate(names, 1)],
        },
    )
    mat = StageOutput(stage="matte", key="m" * 64, path=str(mat_dir), details={"padding": padding})
    t0 = time.perf_counter()
    report = qc.run(SEQ, ing, prop, ws.root / "qc", matte_out=mat)
    return {
        "report": report,
        "seconds": time.perf_counter() - t0,
        "gt_areas": gt_areas,
        "ing": ing,
        "prop": prop,
    }


def test_area_per_frame_is_the_ground_truth_pixel_count_on_plate_frames(shot):
    report = shot["report"]
    assert report.frames == list(range(FIRST, FIRST + N))
    assert report.source == "alpha" and (report.width, report.height) == (854, 480)
    assert report.areas["swan"] == shot["gt_areas"]
    glitch = list(shot["gt_areas"])
    glitch[GLITCH - FIRST] = 0
    assert report.areas["glitch"] == glitch
    assert report.fractions["swan"] == [round(a / (854 * 480), 6) for a in shot["gt_areas"]]
    assert shot["seconds"] < 10


def test_the_blanked_frame_is_flagged_and_its_neighbours_are_not(shot):
    report = shot["report"]
    assert report.flagged_frames("swan") == []
    assert report.flagged_frames("glitch") == [GLITCH]
    (flag,) = report.flags
    assert (flag.object, flag.kind, flag.area) == ("glitch", "vanish", 0)
    assert flag.previous == shot["gt_areas"][GLITCH - FIRST - 1] and flag.change == 1.0
    rows = {r["frame"]: r for r in report.table()}
    assert rows[GLITCH]["flagged"] == "glitch: vanish"
    assert rows[GLITCH - 1]["flagged"] == rows[GLITCH + 1]["flagged"] == ""
    assert rows[GLITCH]["swan px"] == shot["gt_areas"][GLITCH - FIRST]


def test_report_is_written_beside_the_sheet_and_reads_back(shot):
    report = shot["report"]
    path = Path(report.json_path)
    assert path.parent == Path(report.contact_sheet).parent and path.name == "qc.json"
    assert qc.QCReport.model_validate_json(path.read_text()) == report


def test_contact_sheet_has_regular_and_flagged_tiles_with_overlays(shot):
    report = shot["report"]
    sheet = cv2.imread(report.contact_sheet, cv2.IMREAD_COLOR)
    assert sheet is not None and sheet.dtype == np.uint8
    tiles = {t.frame: t for t in report.tiles}
    # 8 regular frames over 1001..1020 (ends included) plus the flagged frame, in frame order
    assert list(tiles) == [1001, 1004, 1006, 1009, GLITCH, 1012, 1015, 1017, 1020]
    assert {(t.width, t.height) for t in report.tiles} == {(320, 180)}  # 854x480 at 320 wide
    assert all(
        t.y + t.height <= sheet.shape[0] and t.x + t.width <= sheet.shape[1] for t in report.tiles
    )
    assert [t.frame for t in report.tiles if t.flagged] == [GLITCH]
    red = np.array([0, 0, 255])  # BGR
    for frame, t in tiles.items():
        border = sheet[t.y + t.height // 2, t.x + 1]
        assert np.array_equal(border, red) == (frame == GLITCH), frame

    # inside the swan on the glitch frame, the tile is half plate, half the swan's colour (green)
    t = tiles[GLITCH]
    tile = sheet[t.y : t.y + t.height, t.x : t.x + t.width].astype(np.float32)
    with ingest.open_proxies(shot["ing"]) as plate:
        rgb = plate.read(GLITCH)
    thumb = cv2.resize(
        cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), (320, 180), interpolation=cv2.INTER_AREA
    )
    inside = cv2.resize(_gt(GLITCH - FIRST).astype(np.float32), (320, 180), cv2.INTER_AREA) > 0.999
    inside = cv2.erode(inside.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    inside[:30, :120] = False  # the frame label
    assert inside.sum() > 500
    green = np.array(qc.PALETTE[0][::-1], np.float32)
    expected = 0.5 * thumb.astype(np.float32) + 0.5 * green
    assert np.abs(tile[inside] - expected[inside]).mean() < 2.0
    outside = ~(cv2.dilate(inside.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0)
    outside[:30, :] = False
    outside[:, :6] = outside[:, -6:] = outside[-6:, :] = False  # the red border
    assert np.abs(tile[outside] - thumb[outside]).mean() < 1.0  # plate untouched outside
    assert report.colours == {"swan": "#00dc00", "glitch": "#00a0ff"}


def test_mask_source_gives_the_same_areas_without_a_matte_folder(shot, tmp_path):
    report = qc.run(SEQ, shot["ing"], shot["prop"], tmp_path, n_tiles=2)
    assert report.source == "mask"
    assert report.areas == shot["report"].areas
    assert [t.frame for t in report.tiles] == [1001, GLITCH, 1020]


@pytest.mark.parametrize(
    ("areas", "flagged"),
    [
        ([1000, 1010, 1500, 1005, 990], [(2, "jump")]),  # one-frame spike: the spike alone
        ([1000, 1000, 400, 400, 400], [(2, "jump")]),  # a lasting step: its first frame
        ([1000, 1000, 800, 800], []),  # 20 % change: under the 25 % threshold
        ([1000, 0, 0, 1000], [(1, "vanish"), (3, "appear")]),  # gone for two frames
        ([0, 0, 1000, 1000], [(2, "appear")]),
        ([40, 5, 45, 0], []),  # all under the floor of 50 px
        ([1000, 30, 1000], [(1, "vanish")]),
    ],
)
def test_area_flag_rule(areas, flagged):
    frames = list(range(1001, 1001 + len(areas)))
    flags = qc.area_flags("obj", frames, areas, 100_000, min_area=0.0005)
    assert [(f.frame - 1001, f.kind) for f in flags] == flagged


def test_area_flag_thresholds_are_checked():
    with pytest.raises(ConfigError, match="threshold"):
        qc.area_flags("obj", [1, 2], [1, 2], 100, threshold=1.5)


def test_sheet_frames_keep_both_ends_and_cover_short_plates():
    assert qc.sheet_frames(1001, 1100, 8)[0] == 1001 and qc.sheet_frames(1001, 1100, 8)[-1] == 1100
    assert len(qc.sheet_frames(1001, 1100, 8)) == 8
    assert qc.sheet_frames(1, 4, 8) == [1, 2, 3, 4]
    assert qc.sheet_frames(7, 7, 8) == [7]
    assert qc.sheet_frames(1, 100, 2, extra=[50, 200, 60], max_extra=1) == [1, 50, 100]
