"""Stage interfaces every model wrapper implements.

Wrappers speak numpy in plate pixels: images are ``(H, W, 3) uint8`` display-referred RGB; masks are
``(H, W) bool``; mattes are ``(H, W) float32`` in ``[0, 1]``; boxes are ``(x0, y0, x1, y1)`` in image
space (origin top-left corner, y down). Model-specific details (letterboxing, logits, padding) are
undone inside each wrapper.

What a wrapper can do beyond its stage's interface is declared, never probed: a detector says
whether it ``picks_one_object`` (then the detect stage asks its ``detect_object``), a segmenter
whether it ``takes_mask``, and a tracker its ``mode`` (``"frames"``: a :class:`FrameTracker`;
``"video"``: a :class:`VideoTracker`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from rotoflow.errors import PromptError
from rotoflow.types import Detections
from rotoflow.workspace import fingerprint

#: Progress callback: ``(done, total)`` in frames.
Progress = Callable[[int, int], None]


@runtime_checkable
class Detector(Protocol):
    """Text prompt -> boxes.

    Attributes:
        picks_one_object: Whether the detector is a :class:`SubjectDetector`: its
            ``detect_object`` finds a text prompt's object better than :meth:`detect` (a
            closed-vocabulary detector's near classes and weak detections), and the detect stage
            calls it instead.
    """

    name: str
    version: str
    picks_one_object: bool

    def resolve_text(self, text: str) -> list[str]:
        """Map free text ("the dancer") to the detector's class names.

        Raises:
            PromptError: nothing matches; the message lists the classes and suggests a box.
        """
        ...

    def detect(self, image: np.ndarray, classes: list[str] | None = None) -> Detections:
        """Detect objects in one ``(H, W, 3) uint8`` RGB frame, optionally only the given classes.

        Returns detections sorted by descending score, boxes in plate pixels.
        """
        ...


@runtime_checkable
class SubjectDetector(Detector, Protocol):
    """A detector whose ``picks_one_object`` is True."""

    def detect_object(self, image: np.ndarray, classes: list[str]) -> Detections:
        """The detections that a text prompt's object is picked from on one ``(H, W, 3) uint8``
        RGB frame, ``classes`` as :meth:`resolve_text` returned them; sorted by descending score,
        boxes in plate pixels (empty when nothing is found)."""
        ...


@dataclass(frozen=True)
class KeyPrompt:
    """A prompt for one object on one plate frame: a box and/or clicks, or a mask.

    Attributes:
        obj_id: The object's id.
        frame: Plate frame number.
        box: ``(x0, y0, x1, y1)`` in plate pixels, or None.
        points: ``(K, 2) float32`` clicks ``(x, y)`` in plate pixels, or None.
        labels: ``(K,) int32`` click labels, 1 on the object, 0 off it.
        mask: ``(H, W) bool`` mask at plate resolution (exclusive with box and clicks).
    """

    obj_id: int
    frame: int
    box: tuple[float, float, float, float] | None = None
    points: np.ndarray | None = None
    labels: np.ndarray | None = None
    mask: np.ndarray | None = None

    def identity(self) -> dict:
        """JSON-able identity of the prompt (for checkpoint and cache keys)."""
        return {
            "obj": self.obj_id,
            "frame": self.frame,
            "box": None if self.box is None else [float(v) for v in self.box],
            "points": None if self.points is None else np.asarray(self.points).tolist(),
            "labels": None if self.labels is None else np.asarray(self.labels).tolist(),
            "mask": None
            if self.mask is None
            else fingerprint(np.packbits(self.mask).tobytes().hex(), self.mask.shape),
        }


def make_prompt(
    obj_id: int,
    frame: int,
    box=None,
    positive=None,
    negative=None,
    mask=None,
) -> KeyPrompt:
    """A :class:`KeyPrompt` from a box and/or positive and negative clicks, or a mask.

    Raises:
        PromptError: nothing given, or a mask together with a box or clicks, or an empty mask.
    """
    pos = None if positive is None else np.asarray(positive, np.float32).reshape(-1, 2)
    neg = None if negative is None else np.asarray(negative, np.float32).reshape(-1, 2)
    clicks = [c for c in (pos, neg) if c is not None and len(c)]
    if mask is not None:
        if box is not None or clicks:
            raise PromptError(f"frame {frame}: give a mask or a box/clicks, not both")
        mask = np.asarray(mask, bool)
        if not mask.any():
            raise PromptError(f"frame {frame}: the mask prompt is empty")
        return KeyPrompt(obj_id, frame, mask=mask)
    if box is None and not clicks:
        raise PromptError(f"frame {frame}: SAM 2 needs a box, clicks or a mask")
    points = labels = None
    if clicks:
        points = np.concatenate(clicks).astype(np.float32)
        labels = np.concatenate([np.full(len(c), 1 if c is pos else 0, np.int32) for c in clicks])
    return KeyPrompt(
        obj_id,
        frame,
        box=None if box is None else tuple(float(v) for v in box),
        points=points,
        labels=labels,
    )


@runtime_checkable
class Segmenter(Protocol):
    """Box and/or clicks on one frame -> mask.

    Attributes:
        takes_mask: Whether :meth:`segment` also takes ``mask=`` (an ``(H, W) bool`` mask prompt
            instead of a box and clicks, refined as SAM 2 does); when False, the segment stage
            uses a mask prompt as it is.
    """

    name: str
    version: str
    takes_mask: bool

    def segment(
        self,
        image: np.ndarray,
        box: tuple[float, float, float, float] | None = None,
        positive: np.ndarray | None = None,
        negative: np.ndarray | None = None,
    ) -> np.ndarray:
        """Segment the prompted object.

        Args:
            image: ``(H, W, 3) uint8`` RGB frame.
            box: ``(x0, y0, x1, y1)`` in plate pixels, or None.
            positive: ``(K, 2) float`` clicks ``(x, y)`` on the object, or None.
            negative: ``(K, 2) float`` clicks off the object, or None.

        Returns:
            ``(H, W) bool`` mask.
        """
        ...


@dataclass
class TrackHint:
    """What a tracker may use besides the frames.

    Attributes:
        detector: A detector for re-anchoring the mask on detected boxes, or None.
        classes: Detector class names of the object (empty when the object has no class).
    """

    detector: Detector | None = None
    classes: tuple[str, ...] = ()


#: How a tracker works: ``"frames"`` (:class:`FrameTracker`: one object, one direction per call)
#: or ``"video"`` (:class:`VideoTracker`: several prompted objects over a run in one session).
TrackMode = Literal["frames", "video"]


@runtime_checkable
class Tracker(Protocol):
    """Propagates masks from keyframes through the other frames; ``mode`` says how (and so which
    of :class:`FrameTracker` and :class:`VideoTracker` it is)."""

    name: str
    version: str
    mode: TrackMode


@runtime_checkable
class FrameTracker(Tracker, Protocol):
    """A tracker of mode ``"frames"``: propagates a mask from a keyframe through neighbouring
    frames (one direction per call)."""

    def track(
        self,
        frames: Iterable[tuple[int, np.ndarray]],
        init_mask: np.ndarray,
        hint: TrackHint | None = None,
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Track one object.

        Args:
            frames: ``(frame_number, (H, W, 3) uint8 RGB)`` pairs in propagation order (forward or
                backward). The first pair is the keyframe that ``init_mask`` belongs to. Consumed
                lazily: the tracker holds only the few frames it needs.
            init_mask: ``(H, W) bool`` mask on the keyframe.
            hint: Optional detector and classes for re-anchoring.

        Yields:
            ``(frame_number, (H, W) bool mask)`` for every frame after the keyframe, in order.
        """
        ...


#: Reads one plate frame: frame number -> ``(H, W, 3) uint8`` RGB.
FrameReader = Callable[[int], np.ndarray]


@runtime_checkable
class VideoTracker(Tracker, Protocol):
    """A tracker of mode ``"video"``: tracks several prompted objects over a run of frames in one
    session (SAM 2 style): every prompt is a conditioning frame, and a crashed run can resume from
    a checkpoint."""

    def propagate(
        self,
        read: FrameReader,
        frames: Sequence[int],
        prompts: Sequence[KeyPrompt],
        size: tuple[int, int],
        *,
        reverse: bool = False,
        checkpoint: Path | None = None,
    ) -> Iterator[tuple[int, dict[int, np.ndarray]]]:
        """Yield ``(plate frame, {obj_id: (H, W) bool mask})`` from the earliest prompted frame
        forward (or the latest backward) to the end of ``frames``; see
        :meth:`models.sam2_video.Sam2Video.propagate`."""
        ...


def checked_mask(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``mask`` as ``(H, W) bool`` after checking it against an ``(H, W, 3) uint8`` image.

    Raises:
        ValueError: ``image`` is not ``(H, W, 3) uint8`` or ``mask`` is not ``(H, W)``.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match image {image.shape[:2]}")
    return mask.astype(bool, copy=False)


@runtime_checkable
class Matter(Protocol):
    """Mask -> soft alpha on the edge band."""

    name: str
    version: str

    def matte(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Pull a soft alpha around the mask edge.

        Args:
            image: ``(H, W, 3) uint8`` RGB frame.
            mask: ``(H, W) bool`` mask.

        Returns:
            ``(H, W) float32`` alpha in ``[0, 1]``; 1 deep inside the mask, 0 far outside.
        """
        ...


@dataclass
class ModelSet:
    """The four stage models of one named set (``tracker`` is a :class:`FrameTracker` or a
    :class:`VideoTracker`, as its ``mode`` says).

    Attributes:
        checksums: sha256 of each stage model's weights (empty for models without weights).
    """

    name: str
    detector: Detector
    segmenter: Segmenter
    tracker: Tracker
    matter: Matter
    checksums: dict[str, str] = field(default_factory=dict)

    def provenance(self) -> dict[str, str]:
        """Model names and versions, for the job record and cache keys."""
        return {
            stage: f"{m.name}@{m.version}"
            for stage, m in (
                ("detector", self.detector),
                ("segmenter", self.segmenter),
                ("tracker", self.tracker),
                ("matter", self.matter),
            )
        }
