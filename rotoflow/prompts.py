"""Prompts: what the user tells Rotoflow about each object to roto.

Coordinates are image space (plate pixels, origin top-left corner, y down); frames are plate frame
numbers. Every model refuses keys it does not know (a typo such as ``"frme"`` is an error naming the
key, not a box silently moved to the first frame) and numbers that are not finite (``inf``,
``NaN``).
"""

from __future__ import annotations

from pathlib import Path
from typing import get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rotoflow.errors import PromptError
from rotoflow.files import MAX_NAME
from rotoflow.types import PlateInfo


class _Strict(BaseModel):
    """Unknown keys and non-finite numbers are validation errors."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class BoxPrompt(_Strict):
    """A box ``(x0, y0, x1, y1)`` around the object on one plate frame (None: the first frame)."""

    frame: int | None = None
    x0: float
    y0: float
    x1: float
    y1: float

    @model_validator(mode="after")
    def _ordered(self) -> BoxPrompt:
        if not (self.x1 > self.x0 and self.y1 > self.y0):
            raise ValueError(
                f"box ({self.x0}, {self.y0}, {self.x1}, {self.y1}) needs x1 > x0 and y1 > y0"
            )
        return self

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0, self.x1, self.y1)


class PointPrompt(_Strict):
    """A click on one plate frame (None: the first frame): positive (on the object) or negative."""

    frame: int | None = None
    x: float
    y: float
    positive: bool = True


class MaskPrompt(_Strict):
    """A mask of the object on one plate frame (None: the first frame): a single-channel or RGB
    image file at the plate's resolution; nonzero pixels are the object."""

    frame: int | None = None
    path: str


class ShapesPrompt(_Strict):
    """A roto shape file an artist drew (Nuke ``.nk``, Silhouette ``.fxs``, Fusion ``.setting``,
    Lottie ``.lottie.json``, roto-shapes ``.json``; the reader is picked by suffix) whose shape
    ``shape`` (an object name in the file; None: the file's only object) becomes a mask prompt on
    each of its key frames inside the plate's frame range. The file is read and rasterised by the
    detect and segment stages (:mod:`tasks.shape_prompts`)."""

    path: str
    shape: str | None = Field(default=None, min_length=1)


class ObjectPrompt(_Strict):
    """Everything said about one object. At least one of text, boxes, points, masks or shapes is
    required.

    Attributes:
        id: Object id, unique within the shot (1, 2, ...).
        name: Object name used in output file names and roto shape names.
        text: Free text ("the dancer"); resolved to boxes by the detector.
        frame: Plate frame on which the text prompt is detected (default: the plate's first frame).
        boxes: Boxes, each on its own frame.
        points: Clicks, each on its own frame.
        masks: Mask images, each on its own frame.
        shapes: Roto shape files whose shape keys are mask prompts on the key frames.
        all_matches: With a text prompt, make every detection its own object (named
            ``<name>_1``, ``<name>_2``, ...) instead of keeping the one subject.
    """

    id: int = Field(ge=1)
    name: str = Field(min_length=1, max_length=MAX_NAME, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")
    text: str | None = None
    frame: int | None = None
    boxes: list[BoxPrompt] = Field(default_factory=list)
    points: list[PointPrompt] = Field(default_factory=list)
    masks: list[MaskPrompt] = Field(default_factory=list)
    shapes: list[ShapesPrompt] = Field(default_factory=list)
    all_matches: bool = False

    @model_validator(mode="after")
    def _something(self) -> ObjectPrompt:
        if not (self.text or self.boxes or self.points or self.masks or self.shapes):
            raise ValueError(f"object {self.name!r} has no text, box, point, mask or shapes prompt")
        if self.all_matches and not self.text:
            raise ValueError(f"object {self.name!r}: all_matches needs a text prompt")
        return self


class ShotPrompts(_Strict):
    """The prompts of one shot: one entry per object."""

    objects: list[ObjectPrompt] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> ShotPrompts:
        ids = [o.id for o in self.objects]
        names = [o.name for o in self.objects]
        if len(set(ids)) != len(ids) or len(set(names)) != len(names):
            raise ValueError(f"object ids and names must be unique, got ids {ids} names {names}")
        return self

    def with_default_frame(self, first_frame: int) -> ShotPrompts:
        """A copy in which boxes and clicks without a frame sit on ``first_frame``."""
        out = self.model_copy(deep=True)
        for obj in out.objects:
            for item in (*obj.boxes, *obj.points, *obj.masks):
                if item.frame is None:
                    item.frame = first_frame
        return out

    def check_against(self, plate: PlateInfo) -> None:
        """Check every frame and coordinate against the plate.

        Raises:
            PromptError: a frame outside ``plate.frame_range``, a box/point outside the frame, or a
                mask or shape file that does not exist (the shape keys' frames are checked when
                the file is read, :func:`tasks.shape_prompts.shape_key_frames`).
        """
        first, last = plate.first_frame, plate.last_frame
        prompts = self.with_default_frame(first)

        def check_frame(obj: ObjectPrompt, frame: int) -> None:
            if not first <= frame <= last:
                raise PromptError(
                    f"object {obj.name!r}: frame {frame} is outside the plate's frame range "
                    f"{first}-{last}"
                )

        for obj in prompts.objects:
            if obj.frame is not None:
                check_frame(obj, obj.frame)
            for b in obj.boxes:
                check_frame(obj, b.frame)
                if b.x1 <= 0 or b.y1 <= 0 or b.x0 >= plate.width or b.y0 >= plate.height:
                    raise PromptError(
                        f"object {obj.name!r}: box ({b.x0:g}, {b.y0:g}, {b.x1:g}, {b.y1:g}) on "
                        f"frame {b.frame} is outside the {plate.width}x{plate.height} frame"
                    )
            for m in obj.masks:
                check_frame(obj, m.frame)
                if not Path(m.path).is_file():
                    raise PromptError(f"object {obj.name!r}: mask file {m.path} does not exist")
            for sp in obj.shapes:
                if not Path(sp.path).is_file():
                    raise PromptError(f"object {obj.name!r}: shape file {sp.path} does not exist")
            for p in obj.points:
                check_frame(obj, p.frame)
                if not (0 <= p.x < plate.width and 0 <= p.y < plate.height):
                    raise PromptError(
                        f"object {obj.name!r}: point ({p.x:g}, {p.y:g}) on frame {p.frame} is "
                        f"outside the {plate.width}x{plate.height} frame"
                    )


def check_object_count(count: int, limit: int, what: str = "the prompts give") -> None:
    """Refuse a shot with more objects than ``limit`` (the ``max_objects`` setting).

    Args:
        count: The shot's number of objects.
        limit: The most allowed.
        what: What gives the objects, for the message.

    Raises:
        PromptError: ``count > limit``; names both and the setting.
    """
    if count > limit:
        raise PromptError(
            f"{what} {count} objects, more than the limit of {limit} per shot "
            f"(ROTOFLOW_MAX_OBJECTS); split the shot's objects over several runs or raise the limit"
        )


def describe_validation_error(exc: ValidationError) -> str:
    """The first error of a prompts validation as one line, ``invalid prompt (<where>): <what>``.

    An unknown key also lists the keys valid at that place, for example ``invalid prompt
    (objects.0.boxes.0.frme): Extra inputs are not permitted (valid keys: frame, x0, y0, x1, y1)``.

    Args:
        exc: The error raised by validating :class:`ShotPrompts` input.

    Returns:
        The line, without a trailing full stop.
    """
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "prompts"
    text = f"invalid prompt ({where}): {first['msg']}"
    if first["type"] == "extra_forbidden":
        model = _model_at(ShotPrompts, first["loc"][:-1])
        if model is not None:
            text += f" (valid keys: {', '.join(model.model_fields)})"
    return text


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The prompt model that validates the value at ``loc`` inside ``model`` (None if unknown)."""
    current: object = model
    for part in loc:
        if isinstance(part, int):
            args = [a for a in get_args(current) if a is not type(None)]
            current = args[0] if args else None
        elif isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part)
            current = field.annotation if field is not None else None
        else:
            return None
        while get_origin(current) is not None and get_origin(current) is not list:
            args = [a for a in get_args(current) if a is not type(None)]  # X | None -> X
            current = args[0] if len(args) == 1 else None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None
