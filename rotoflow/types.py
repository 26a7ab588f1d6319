"""Plain data types shared by every stage.

Coordinate frame everywhere in Rotoflow (unless a function says otherwise): **image space**, i.e.
continuous pixel coordinates of the plate at its full resolution, origin at the top-left *corner* of
pixel (0, 0), x to the right, y down. Pixel centres sit at ``+0.5``. Frame numbers are the plate's own
frame numbers (for example 1001..1100), never 0-based indices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class ShotFormat:
    """What an exporter needs to know of a shot.

    Attributes:
        width: Plate width in pixels.
        height: Plate height in pixels.
        pixel_aspect: Pixel aspect ratio (1.0 for square pixels, 2.0 for anamorphic 2:1).
        fps: Frames per second.
        first_frame: First plate frame number (inclusive).
        last_frame: Last plate frame number (inclusive).
    """

    width: int
    height: int
    pixel_aspect: float = 1.0
    fps: float = 24.0
    first_frame: int = 1
    last_frame: int = 1


@dataclass(frozen=True)
class PlateInfo:
    """Metadata of a plate (a movie file or a numbered image sequence).

    Attributes:
        path: The movie file, or the sequence pattern in printf form (``/shots/sh010.%04d.exr``).
        kind: ``"movie"`` or ``"sequence"``.
        width: Width in pixels.
        height: Height in pixels.
        pixel_aspect: Pixel aspect ratio.
        fps: Frames per second (24.0 when a sequence carries none).
        first_frame: First frame number (inclusive), as on disk or, for movies, from settings.
        last_frame: Last frame number (inclusive).
        colourspace: Source colourspace name (``"sRGB"``, ``"scene_linear"``, ...).
        padding: Digits in the frame number on disk (``4`` for ``sh010.1001.exr``); outputs reuse it.
    """

    path: str
    kind: Literal["movie", "sequence"]
    width: int
    height: int
    pixel_aspect: float
    fps: float
    first_frame: int
    last_frame: int
    colourspace: str
    padding: int = 4

    @property
    def n_frames(self) -> int:
        return self.last_frame - self.first_frame + 1

    @property
    def frame_range(self) -> range:
        """Plate frame numbers, first to last inclusive."""
        return range(self.first_frame, self.last_frame + 1)

    @property
    def format(self) -> ShotFormat:
        return ShotFormat(
            self.width, self.height, self.pixel_aspect, self.fps, self.first_frame, self.last_frame
        )


@dataclass
class Detections:
    """Detector output on one frame.

    Attributes:
        boxes: ``(N, 4) float32`` boxes ``(x0, y0, x1, y1)`` in image space (plate pixels).
        scores: ``(N,) float32`` confidences in ``[0, 1]``.
        labels: ``N`` class names.
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: list[str]

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class ShapeKey:
    """One key of a closed cubic Bezier roto shape.

    Attributes:
        frame: Plate frame number of the key.
        points: ``(N, 3, 2) float64``: for each control point ``[vertex, in_tangent, out_tangent]``.
            The vertex is in image space; tangents are offsets relative to the vertex (pixels).
            Segment ``i -> i+1`` is the cubic ``v_i, v_i + out_i, v_{i+1} + in_{i+1}, v_{i+1}``,
            and the last point joins the first (closed shape).
    """

    frame: int
    points: np.ndarray


@dataclass
class RotoShape:
    """An animated closed Bezier shape for one object.

    Every key has the same number of control points in the same order (point ``i`` follows the same
    feature from key to key), which is what Nuke, Silhouette, Fusion and After Effects interpolate.

    Attributes:
        object_id: The object's id from its prompt.
        name: The object's name (exporters sanitise it into an identifier).
        keys: Keys in strictly increasing frame order.
    """

    object_id: int
    name: str
    keys: list[ShapeKey] = field(default_factory=list)

    @property
    def n_points(self) -> int:
        return int(self.keys[0].points.shape[0]) if self.keys else 0
