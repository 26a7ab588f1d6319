"""Stage interfaces every model wrapper implements.

Wrappers speak numpy in plate pixels: images are ``(H, W, 3) uint8`` display-referred RGB; masks are
``(H, W) bool``; mattes are ``(H, W) float32`` in ``[0, 1]``; boxes are ``(x0, y0, x1, y1)`` in image
space (origin top-left corner, y down). Model-specific details (letterboxing, logits, padding) are
undone inside each wrapper.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from rotoflow.types import Detections

#: Progress callback: ``(done, total)`` in frames.
Progress = Callable[[int, int], None]


@runtime_checkable
class Detector(Protocol):
    """Text prompt -> boxes."""

    name: str
    version: str

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
class Segmenter(Protocol):
    """Box and/or clicks on one frame -> mask."""

    name: str
    version: str

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


@runtime_checkable
class Tracker(Protocol):
    """Propagates a mask from a keyframe through neighbouring frames (one direction per call)."""

    name: str
    version: str

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
    """The four stage models of one named set."""

    name: str
    detector: Detector
    segmenter: Segmenter
    tracker: Tracker
    matter: Matter

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
