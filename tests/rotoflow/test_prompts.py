import pytest
from pydantic import ValidationError

from rotoflow.errors import PromptError
from rotoflow.prompts import ShotPrompts, describe_validation_error
from rotoflow.types import PlateInfo

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
    with pytest.raises(ValidationError, match="no text, box, point or mask"):
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
