"""Prompts: what the user tells Rotoflow about each object to roto.

Coordinates are image space (plate pixels, origin top-left corner, y down); frames are plate frame
numbers.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, model_validator

from rotoflow.errors import PromptError
from rotoflow.files import MAX_NAME
from rotoflow.types import PlateInfo


class BoxPrompt(BaseModel):
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


class PointPrompt(BaseModel):
    """A click on one plate frame (None: the first frame): positive (on the object) or negative."""

    frame: int | None = None
    x: float
    y: float
    positive: bool = True


class MaskPrompt(BaseModel):
    """A mask of the object on one plate frame (None: the first frame): a single-channel or RGB
    image file at the plate's resolution; nonzero pixels are the object."""

    frame: int | None = None
    path: str


class ObjectPrompt(BaseModel):
    """Everything said about one object. At least one of text, boxes or points is required.

    Attributes:
        id: Object id, unique within the shot (1, 2, ...).
        name: Object name used in output file names and roto shape names.
        text: Free text ("the dancer"); resolved to boxes by the detector.
        frame: Plate frame on which the text prompt is detected (default: the plate's first frame).
        boxes: Boxes, each on its own frame.
        points: Clicks, each on its own frame.
        masks: Mask images, each on its own frame.
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
    all_matches: bool = False

    @model_validator(mode="after")
    def _something(self) -> ObjectPrompt:
        if not (self.text or self.boxes or self.points or self.masks):
            raise ValueError(f"object {self.name!r} has no text, box, point or mask prompt")
        if self.all_matches and not self.text:
            raise ValueError(f"object {self.name!r}: all_matches needs a text prompt")
        return self


class ShotPrompts(BaseModel):
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
            PromptError: a frame outside ``plate.frame_range`` or a box/point outside the frame.
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
            for p in obj.points:
                check_frame(obj, p.frame)
                if not (0 <= p.x < plate.width and 0 <= p.y < plate.height):
                    raise PromptError(
                        f"object {obj.name!r}: point ({p.x:g}, {p.y:g}) on frame {p.frame} is "
                        f"outside the {plate.width}x{plate.height} frame"
                    )
