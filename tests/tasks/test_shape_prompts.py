"""Shapes prompts: an artist's roto shape file (Nuke-written syntax) as the mask prompt of an
object, through detect, segment (lite segmenter) and propagate on real footage."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
import typer
from pydantic import ValidationError

from apps.cli_options import build_prompts
from exporters import nuke
from models.lite_segmenter import GrabCutSegmenter
from models.lite_tracker import FlowTracker
from models.registry import NotNeeded
from rotoflow.errors import PromptError
from rotoflow.geometry.raster import iou, rasterize_shapes
from rotoflow.prompts import ShotPrompts
from rotoflow.workspace import ShotWorkspace, fingerprint
from tasks import shape_prompts
from tasks.stages import detect, ingest, propagate, segment
from tests.conftest import davis_frames, davis_masks

SEQ = "blackswan"
N = 4
FIRST = 1001
KEY = 1002  # the fixture's one key ({px x447a8000 ...), drawn on the ground truth of frame 00001
ROTO = Path(__file__).parent / "data" / "blackswan_roto.nk"
CLIPBOARD = Path(__file__).parents[1] / "exporters" / "data" / "nuke10_clipboard.nk"


def _prompts(shapes: list[dict]) -> ShotPrompts:
    return ShotPrompts.model_validate({"objects": [{"id": 1, "name": "swan", "shapes": shapes}]})


@pytest.fixture(scope="module")
def plate(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("shapes")
    folder = root / "plate"
    folder.mkdir()
    for i in range(N):
        (folder / f"{SEQ}.{FIRST + i:04d}.jpg").symlink_to(davis_frames(SEQ) / f"{i:05d}.jpg")
    return folder


def _ingest(plate: Path, prompts: ShotPrompts, root: Path):
    ws = ShotWorkspace(root / "out" / SEQ)
    return ws, ingest.run(str(plate), prompts, ws, fingerprint("ingest", 1))


def test_a_nuke_shape_prompts_the_keyframe_and_propagation_runs_from_it(plate, tmp_path):
    prompts = _prompts([{"path": str(ROTO), "shape": "swan"}])
    ws, ing = _ingest(plate, prompts, tmp_path)
    info = ingest.plate_info(ing)
    det = detect.run(prompts, ing, ws, fingerprint("detect", 1), NotNeeded("yolox"))
    (obj,) = detect.load(det)
    assert [k.frame for k in obj.keyframes] == [KEY]
    seg = segment.run(ing, det, ws, fingerprint("segment", 1), GrabCutSegmenter())
    got = segment.read_keyframe_mask(seg, "swan", KEY)
    # the shape's own raster, from the file read independently of the prompt path
    _, shapes = nuke.read_from_string(ROTO.read_text(), info.format)
    want = rasterize_shapes(shapes, KEY, info.width, info.height)
    assert want.sum() > 10_000  # a real object, not a speck
    assert iou(got, want) >= 0.95
    gt = cv2.imread(str(davis_masks(SEQ) / "00001.png"), cv2.IMREAD_GRAYSCALE) > 127
    assert iou(want, gt) >= 0.95  # the fixture was drawn around the swan
    prop = propagate.run(ing, det, seg, ws, fingerprint("propagate", 1), FlowTracker())
    masks = sorted(p.name for p in prop.dir.rglob("*.png"))
    assert masks == [f"swan.{FIRST + i:04d}.png" for i in range(N)]
    first = cv2.imread(str(next(prop.dir.rglob(f"swan.{FIRST:04d}.png"))), cv2.IMREAD_UNCHANGED)
    gt0 = cv2.imread(str(davis_masks(SEQ) / "00000.png"), cv2.IMREAD_GRAYSCALE) > 127
    assert iou(first > 0, gt0) >= 0.8  # tracked backward from the shape's key


def test_unknown_shape_name_lists_the_names(plate, tmp_path):
    prompts = _prompts([{"path": str(CLIPBOARD), "shape": "Bezier9"}])
    ws, ing = _ingest(plate, prompts, tmp_path)
    with pytest.raises(PromptError) as info:
        detect.run(prompts, ing, ws, fingerprint("detect", 2), NotNeeded("yolox"))
    msg = str(info.value)
    assert "has no shape 'Bezier9'" in msg
    assert "RotoHero.Bezier1, RotoPaint1.Bezier1" in msg and "\n" not in msg


def test_several_shapes_need_a_name_and_a_bare_name_must_be_unique():
    info = _info()
    with pytest.raises(PromptError, match="holds 2 shapes; pick one"):
        shape_prompts.read_object(str(CLIPBOARD), None, info, "swan")
    with pytest.raises(PromptError, match="no shape 'Bezier1'"):
        shape_prompts.read_object(str(CLIPBOARD), "Bezier1", info, "swan")
    (hero,) = shape_prompts.read_object(str(CLIPBOARD), "RotoHero.Bezier1", info, "swan")
    assert [k.frame for k in hero.keys] == [20]


def test_keys_outside_the_plate_are_a_clear_error():
    contours = shape_prompts.read_object(str(CLIPBOARD), "RotoHero.Bezier1", _info(), "swan")
    with pytest.raises(PromptError) as info:
        shape_prompts.shape_key_frames(contours, _info(first=1001, last=1004), "swan")
    assert str(info.value) == (
        "object 'swan': the shape's key frames 20 are outside the plate's frame range 1001-1004"
    )
    paint = shape_prompts.read_object(str(CLIPBOARD), "RotoPaint1.Bezier1", _info(), "swan")
    assert shape_prompts.shape_key_frames(paint, _info(first=5, last=30), "swan") == [10]


def test_a_missing_shape_file_is_refused_before_reading_the_plate(tmp_path):
    prompts = _prompts([{"path": str(tmp_path / "hero.nk")}])
    with pytest.raises(PromptError, match=r"object 'swan': shape file .*hero.nk does not exist"):
        prompts.check_against(_info())


def test_unreadable_suffix_is_a_prompt_error(tmp_path):
    svg = tmp_path / "hero.svg"
    svg.write_text("<svg/>")
    with pytest.raises(PromptError, match="does not read svg files"):
        shape_prompts.read_object(str(svg), None, _info(), "swan")


def test_shapes_prompt_json_and_command_line():
    p = ShotPrompts.model_validate_json(
        '{"objects": [{"id": 1, "name": "hero", "shapes": [{"path": "hero.nk", "shape": "B1"}]}]}'
    )
    assert (p.objects[0].shapes[0].path, p.objects[0].shapes[0].shape) == ("hero.nk", "B1")
    with pytest.raises(ValidationError, match="shap"):
        ShotPrompts.model_validate_json(
            '{"objects": [{"id": 1, "name": "hero", "shapes": [{"path": "a.nk", "shap": "B"}]}]}'
        )
    cli = build_prompts(None, [], [], [], None, "hero", None, shapes=["hero.nk"], shape_name="B1")
    assert cli.objects[0].shapes[0].model_dump() == {"path": "hero.nk", "shape": "B1"}


def _info(first: int = 1, last: int = 30):
    from rotoflow.types import PlateInfo

    return PlateInfo(
        path="plate.%04d.png",
        kind="sequence",
        width=400,
        height=300,
        pixel_aspect=1.0,
        fps=24.0,
        first_frame=first,
        last_frame=last,
        colourspace="sRGB",
        padding=4,
    )


def test_command_line_names_the_object_after_the_shape_and_wants_a_file_for_a_name(capsys):
    cli = build_prompts(
        None, [], [], [], None, None, None, shapes=["hero.nk"], shape_name="Bezier1"
    )
    assert cli.objects[0].name == "bezier1"
    with pytest.raises(typer.Exit) as info:
        build_prompts(None, ["1,2,30,40"], [], [], None, None, None, shape_name="Bezier1")
    assert info.value.exit_code == 2
    assert "--shape-name needs --shapes FILE" in capsys.readouterr().err
