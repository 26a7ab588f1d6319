from pathlib import Path

import cv2
import numpy as np
import OpenImageIO as oiio
import pytest
from pydantic import ValidationError

from rotoflow.errors import PromptError
from rotoflow.prompts import ShotPrompts, check_object_count, describe_validation_error
from rotoflow.types import PlateInfo
from tasks.stages.detect import Keyframe
from tasks.stages.segment import prompt_mask

BOX = {"x0": 10, "y0": 20, "x1": 30, "y1": 40}
PLATE = PlateInfo("sh010.%04d.exr", "sequence", 1920, 1080, 1.0, 24.0, 1001, 1100, "scene_linear")


def prompts(**obj) -> ShotPrompts:
    return ShotPrompts.model_validate({"objects": [{"id": 1, "name": "dancer", **obj}]})


def test_box_without_frame_sits_on_first_frame():
    p = prompts(boxes=[{"x0": 10, "y0": 20, "x1": 30, "y1": 40}]).with_default_frame(1001)
    assert p.objects[0].boxes[0].frame == 1001


@pytest.mark.parametrize(
    "obj, words",
    [
        ({"boxes": [{"x0": 2000, "y0": 10, "x1": 2100, "y1": 50}]}, "outside the 1920x1080"),
        ({"boxes": [{"x0": 10, "y0": -90, "x1": 50, "y1": -10}]}, "outside the 1920x1080"),
        ({"text": "car", "frame": 1200}, "frame 1200 is outside the plate's frame range 1001-1100"),
        ({"points": [{"x": 5, "y": 5, "frame": 1000}]}, "frame 1000"),
        ({"points": [{"x": 1920, "y": 5}]}, "point (1920, 5)"),
    ],
)
def test_prompts_outside_the_plate_are_named(obj, words):
    with pytest.raises(PromptError, match=r"dancer") as info:
        prompts(**obj).check_against(PLATE)
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_box_partly_inside_is_accepted():
    prompts(boxes=[{"x0": -10, "y0": 10, "x1": 50, "y1": 60}]).check_against(PLATE)


def test_invalid_prompts_are_rejected():
    with pytest.raises(ValidationError, match="no text, box, point, mask or shapes prompt"):
        prompts()
    with pytest.raises(ValidationError, match="x1 > x0"):
        prompts(boxes=[{"x0": 50, "y0": 10, "x1": 10, "y1": 60}])
    with pytest.raises(ValidationError, match="unique"):
        ShotPrompts.model_validate(
            {
                "objects": [
                    {"id": 1, "name": "a", "text": "car"},
                    {"id": 1, "name": "b", "text": "x"},
                ]
            }
        )


@pytest.mark.parametrize(
    "shot, where, valid",
    [
        (
            {"objects": [{"id": 1, "name": "a", "boxes": [BOX | {"frme": 1005}]}]},
            "objects.0.boxes.0.frme",
            "frame, x0, y0, x1, y1",
        ),
        (
            {"objects": [{"id": 1, "name": "a", "points": [{"x": 1, "y": 2, "postive": False}]}]},
            "objects.0.points.0.postive",
            "frame, x, y, positive",
        ),
        (
            {"objects": [{"id": 1, "name": "a", "masks": [{"path": "m.png", "fram": 2}]}]},
            "objects.0.masks.0.fram",
            "frame, path",
        ),
        ({"objects": [{"id": 1, "name": "a", "txt": "car"}]}, "objects.0.txt", "text"),
        ({"objects": [{"id": 1, "name": "a", "text": "car"}], "object": []}, "object", "objects"),
    ],
)
def test_unknown_keys_are_refused_and_named(shot, where, valid):
    """A typo is an error naming the key (``"frme"`` used to move the box to the first frame)."""
    with pytest.raises(ValidationError) as info:
        ShotPrompts.model_validate(shot)
    message = describe_validation_error(info.value)
    assert message.startswith(f"invalid prompt ({where}): Extra inputs are not permitted")
    assert valid in message.split("valid keys: ")[1]
    assert "\n" not in message


@pytest.mark.parametrize("number", ["1e999", "-1e999", "Infinity", "NaN"])
@pytest.mark.parametrize("where", ["boxes", "points"])
def test_non_finite_coordinates_are_refused(number, where):
    item = '{"x0": 1, "y0": 2, "x1": N, "y1": 9}' if where == "boxes" else '{"x": N, "y": 2}'
    text = f'{{"objects": [{{"id": 1, "name": "a", "{where}": [{item.replace("N", number)}]}}]}}'
    with pytest.raises(ValidationError) as info:
        ShotPrompts.model_validate_json(text)
    message = describe_validation_error(info.value)
    assert message.startswith(f"invalid prompt (objects.0.{where}.0.") and "finite" in message


# --- mask prompts: nonzero = object ---------------------------------------------------------------

SHAPE = (12, 16)


def _object() -> np.ndarray:
    """``(12, 16) bool``: the object, a 4x5 rectangle."""
    mask = np.zeros(SHAPE, bool)
    mask[3:7, 5:10] = True
    return mask


def _write_exr(path: Path, pixels: np.ndarray, channels: tuple[str, ...]) -> None:
    h, w, c = pixels.shape
    spec = oiio.ImageSpec(w, h, c, "half")
    spec.channelnames = channels
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec), oiio.geterror()
    assert out.write_image(pixels.astype(np.float32)), out.geterror()
    out.close()


def _mask_file(tmp_path: Path, kind: str) -> Path:
    """The object of :func:`_object` written as ``kind``."""
    obj = _object()
    if kind.startswith("png8-") or kind.startswith("png16-"):
        bits, value = kind.removeprefix("png").split("-")
        path = tmp_path / f"{kind}.png"
        cv2.imwrite(str(path), obj.astype(np.uint8 if bits == "8" else np.uint16) * int(value))
        return path
    if kind == "png-rgb-red":  # the object painted pure red on black
        bgr = np.zeros((*SHAPE, 3), np.uint8)
        bgr[obj, 2] = 255
    elif kind == "png-rgba-alpha":  # white everywhere, the object in alpha
        bgr = np.dstack([np.full((*SHAPE, 3), 255, np.uint8), obj.astype(np.uint8) * 255])
    elif kind == "png-rgba-opaque":  # the object painted white, alpha opaque everywhere
        bgr = np.dstack([np.repeat(obj[..., None], 3, axis=2) * 255, np.full(SHAPE, 255)])
        bgr = bgr.astype(np.uint8)
    elif kind == "exr-y":
        path = tmp_path / "y.exr"
        values = np.where(obj, 0.25, 0.0)
        values[0, 0] = -0.5  # negative is not the object
        _write_exr(path, values[..., None], ("Y",))
        return path
    elif kind == "exr-rgba":
        path = tmp_path / "rgba.exr"
        rgba = np.zeros((*SHAPE, 4))
        rgba[..., :3] = 0.18  # the plate behind, everywhere
        rgba[..., 3] = obj
        _write_exr(path, rgba, ("R", "G", "B", "A"))
        return path
    else:
        raise ValueError(kind)
    path = tmp_path / f"{kind}.png"
    cv2.imwrite(str(path), bgr)
    return path


@pytest.mark.parametrize(
    "kind",
    [
        "png8-255",
        "png8-1",
        "png8-100",
        "png16-65535",
        "png16-1",
        "png-rgb-red",
        "png-rgba-alpha",
        "png-rgba-opaque",
        "exr-y",
        "exr-rgba",
    ],
)
def test_mask_prompt_nonzero_is_the_object(tmp_path, kind):
    """Masks of 0/1 or 0/100 used to count as empty (read as above half the range); a float EXR
    could not be read at all."""
    path = _mask_file(tmp_path, kind)
    key = Keyframe(frame=1001, mask=str(path))
    assert (prompt_mask("dancer", key, SHAPE) == _object()).all()


def test_mask_prompt_errors_name_the_object_and_the_file(tmp_path):
    empty = tmp_path / "empty.png"
    cv2.imwrite(str(empty), np.zeros(SHAPE, np.uint8))
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"\x89PNG not an image")
    cases = [
        (empty, SHAPE, f"object 'dancer': mask {empty} is empty (no pixel above 0 on frame 1001)"),
        (_mask_file(tmp_path, "png8-1"), (24, 16), "is 16x12, the plate is 16x24"),
        (garbage, SHAPE, f"object 'dancer': mask {garbage}: cannot be read ("),
    ]
    for path, shape, words in cases:
        with pytest.raises(PromptError) as info:
            prompt_mask("dancer", Keyframe(frame=1001, mask=str(path)), shape)
        assert words in str(info.value)
        assert "\n" not in str(info.value)


def test_object_count_over_the_limit_is_named():
    check_object_count(100, 100)
    with pytest.raises(PromptError) as info:
        check_object_count(101, 100)
    assert str(info.value).startswith("the prompts give 101 objects, more than the limit of 100")
    assert "ROTOFLOW_MAX_OBJECTS" in str(info.value)
