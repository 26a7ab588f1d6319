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
    """One animated closed cubic Bezier contour of an object: a roto shape.

    An object's matte is the non-zero winding fill of all its contours: outer contours run
    clockwise on screen and add, holes run counter-clockwise and subtract. Hosts with blend modes
    take the contours of an object in list order (outer contours, then the holes inside them,
    then islands inside holes, ...), holes in subtract mode.

    Every key has the same number of control points in the same order (point ``i`` follows the same
    feature from key to key), which is what Nuke, Silhouette, Fusion and After Effects interpolate.
    Between keys the shape is interpolated linearly, coordinate by coordinate
    (:func:`rotoflow.geometry.shape_at`).

    Attributes:
        object_id: The object's id from its prompt.
        name: The object's name (exporters sanitise it into an identifier).
        keys: Keys in strictly increasing frame order.
        contour: Index of the contour within its object (0 for the first outer contour).
        hole: True for a hole (subtracted from the object's other contours).
        feather: Width in plate pixels of the matte's soft edge (0 for a hard edge): the alpha
            ramps from 1 to 0 across a band this wide, centred on the path unless ``band`` says
            otherwise. Hosts with one feather per shape take this value.
        lifetime: ``(first, last)`` plate frames (inclusive) on which the contour is part of the
            matte, or None for the span of its keys. Keys one frame outside the lifetime are
            *collapsed* (every vertex at one point, tangents zero) so that hosts without a lifetime
            setting show nothing there.
        band: ``(N, 2) float64`` soft band per control point, ``[inside, outside]`` pixels along
            the vertex normal towards and away from the filled side (the object's side: out of
            a hole's loop): the alpha is 1 at ``inside`` pixels in from the path and 0 at
            ``outside`` pixels out, linear between (:mod:`rotoflow.geometry.feather`). None: the
            ramp is ``feather`` wide and centred on the path at every point (:meth:`soft_band`).
    """

    object_id: int
    name: str
    keys: list[ShapeKey] = field(default_factory=list)
    contour: int = 0
    hole: bool = False
    feather: float = 0.0
    lifetime: tuple[int, int] | None = None
    band: np.ndarray | None = None

    def soft_band(self) -> np.ndarray:
        """``(N, 2) float64`` ``[inside, outside]`` pixels per control point: :attr:`band`, or
        half of :attr:`feather` each side when it is None."""
        if self.band is not None:
            return np.asarray(self.band, dtype=np.float64)
        return np.full((self.n_points, 2), self.feather / 2.0)

    @property
    def n_points(self) -> int:
        return int(self.keys[0].points.shape[0]) if self.keys else 0

    @property
    def label(self) -> str:
        """The shape's name in hosts: the object's name for contour 0, else ``<name>_part<k>``
        or ``<name>_hole<k>`` (before exporters make it an identifier)."""
        if self.contour == 0:
            return self.name
        return f"{self.name}_{'hole' if self.hole else 'part'}{self.contour}"

    @property
    def frame_span(self) -> tuple[int, int] | None:
        """``(first, last)`` frames on which the contour is alive: its lifetime, else the span of
        its keys; None when it has no keys."""
        if self.lifetime is not None:
            return self.lifetime
        return (self.keys[0].frame, self.keys[-1].frame) if self.keys else None


@dataclass(frozen=True)
class ObjectRef:
    """One prompted object as every stage after detect refers to it.

    Attributes:
        id: The object's id in the shot's prompts (an ``int``, unique in the shot; a text prompt
            split into every match gets one id per match).
        name: Its name, one safe path component: the folder and file prefix of its masks and
            alpha (``masks/<name>/<name>.1001.png``) and the base of its shape names.
    """

    id: int
    name: str


@dataclass(frozen=True)
class OutputRecord:
    """One output file of a shot, as it is published and recorded (a row of the ``output`` table).

    Attributes:
        kind: ``"mask"``, ``"alpha"``, a roto format name (``"nuke"``, ``"svg"``...), ``"shapes"``
            (the pipeline JSON) or ``"qc"``.
        object_id: The object's id for a per-object file (masks, alpha), else None.
        frame: The plate frame number for a per-frame file, else None.
        path: Path relative to the shot folder, ``/``-separated (``masks/car/car.1001.png``).
        url: Where the file was also published (an ``s3://`` URL, recorded as the output's path),
            or None when it lives only in the shot folder.
        start_frame: For a roto format's file, the host frame at which the plate's first frame
            is keyed in it (the plate's own first frame unless ``--start-frame`` moved it); None
            for files in plate frames (masks, alpha, the pipeline JSON).
    """

    kind: str
    object_id: int | None
    frame: int | None
    path: str
    url: str | None = None
    start_frame: int | None = None
