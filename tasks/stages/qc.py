"""Quality control of a finished shot: each object's matte area per frame, area jumps flagged for
review, and a contact sheet of matte overlays.

Area rule. An object's area on a frame is the number of plate pixels whose alpha is above 0.5 (the
matte stage's EXR), or that are set in the binary mask when no matte folder is given. A frame ``t``
(after the first) *steps* when, with ``a`` the areas and ``floor`` = ``min_area * W * H`` pixels:

- ``appear``: ``a[t-1] < floor <= a[t]``;
- ``vanish``: ``a[t] < floor <= a[t-1]``;
- ``jump``: both at or above ``floor`` and ``|a[t] - a[t-1]| / max(a[t], a[t-1]) > threshold``.

Areas both below the floor never step (tiny areas change by large ratios for no reason). A step is
flagged on frame ``t``, except a step back from a one-frame glitch: when ``t-1`` was flagged and
``a[t]`` does not step against ``a[t-2]``, the glitch is ``t-1`` alone and ``t`` is not flagged.
Defaults: ``threshold`` 0.25, ``min_area`` 0.0005 of the frame (about 205 pixels at 854x480).

Contact sheet. ``n_tiles`` frames spaced regularly over the plate (first and last always among them)
plus up to ``max_flagged_tiles`` flagged frames, in frame order, ``tile_width`` pixels wide (height
from the plate's display aspect, pixel aspect included), four to a row under a title strip. Each tile
is the ingest proxy frame with every object's alpha overlaid at half opacity in the object's colour
and outlined at alpha 0.5; the frame number is written in its top-left corner; a flagged frame has a
red border and its flag written after the frame number.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import BaseModel, Field

from rotoflow import progress
from rotoflow.errors import ConfigError, ExportError
from rotoflow.files import atomic_write_text
from rotoflow.mattes import atomic_target, read_alpha_exr
from rotoflow.workspace import StageOutput
from tasks.stages import ingest, matte, propagate

log = logging.getLogger(__name__)

#: Relative area change between consecutive frames above which a frame is flagged.
JUMP_THRESHOLD = 0.25
#: Area (fraction of the frame) below which an object counts as absent.
MIN_AREA = 0.0005
#: Object overlay colours, RGB, in object order (no red: red marks flagged frames).
PALETTE = (
    (0, 220, 0),
    (0, 160, 255),
    (255, 215, 0),
    (255, 0, 255),
    (0, 255, 255),
    (255, 128, 0),
    (255, 105, 180),
    (255, 255, 255),
)
#: Border colour of a flagged tile, RGB.
FLAG_RGB = (255, 0, 0)
SHEET_NAME = "contact_sheet.png"
JSON_NAME = "qc.json"

_GAP = 4
_TITLE = 28
_FLAG_BORDER = 3
_FONT = cv2.FONT_HERSHEY_SIMPLEX


class AreaFlag(BaseModel):
    """One frame of one object flagged for review.

    Attributes:
        object: Object name.
        frame: Plate frame number of the flagged frame.
        kind: ``"jump"``, ``"vanish"`` or ``"appear"`` (see the module docstring).
        area: The object's area on ``frame``, pixels.
        previous: Its area on the frame before, pixels.
        change: ``|area - previous| / max(area, previous)``, in ``[0, 1]``.
    """

    object: str
    frame: int
    kind: Literal["jump", "vanish", "appear"]
    area: int
    previous: int
    change: float


class SheetTile(BaseModel):
    """Where one frame sits on the contact sheet (sheet pixels, origin top-left, y down)."""

    frame: int
    x: int
    y: int
    width: int
    height: int
    flagged: bool


class QCReport(BaseModel):
    """QC of one shot, as written to ``qc.json``.

    Attributes:
        shot: Shot name.
        width: Plate width, pixels.
        height: Plate height, pixels.
        frames: Plate frame numbers, first to last.
        areas: Object name -> area per frame in pixels, aligned with ``frames``.
        fractions: Object name -> area per frame as a fraction of ``width * height``.
        source: ``"alpha"`` (matte alpha > 0.5) or ``"mask"`` (binary propagate masks).
        threshold: Relative change above which a jump is flagged.
        min_area: Area floor as a fraction of the frame.
        flags: Flagged frames, by frame then object.
        colours: Object name -> overlay colour on the sheet, ``#rrggbb``.
        contact_sheet: Path of the contact sheet PNG.
        json_path: Path of this report's JSON file (beside the sheet).
        tiles: The sheet's tiles in frame order.
    """

    shot: str
    width: int
    height: int
    frames: list[int]
    areas: dict[str, list[int]]
    fractions: dict[str, list[float]]
    source: Literal["alpha", "mask"]
    threshold: float
    min_area: float
    flags: list[AreaFlag] = Field(default_factory=list)
    colours: dict[str, str] = Field(default_factory=dict)
    contact_sheet: str = ""
    json_path: str = ""
    tiles: list[SheetTile] = Field(default_factory=list)

    def flagged_frames(self, object_name: str | None = None) -> list[int]:
        """Sorted plate frames flagged for ``object_name`` (None: any object)."""
        return sorted(
            {f.frame for f in self.flags if object_name is None or f.object == object_name}
        )

    def table(self) -> list[dict[str, object]]:
        """One row per frame: ``frame``, ``<object> px``, ``<object> %`` per object and
        ``flagged`` (``"<object>: <kind>"`` joined by ``", "``, empty when not flagged)."""
        by_frame: dict[int, list[str]] = {}
        for f in self.flags:
            by_frame.setdefault(f.frame, []).append(f"{f.object}: {f.kind}")
        rows = []
        for i, frame in enumerate(self.frames):
            row: dict[str, object] = {"frame": frame}
            for name in self.areas:
                row[f"{name} px"] = self.areas[name][i]
                row[f"{name} %"] = round(100.0 * self.fractions[name][i], 3)
            row["flagged"] = ", ".join(by_frame.get(frame, []))
            rows.append(row)
        return rows


def _steps(a: int, b: int, floor: float, threshold: float) -> tuple[str, float] | None:
    """``(kind, change)`` when area ``b`` steps against the earlier area ``a``, else None."""
    change = abs(b - a) / max(a, b) if max(a, b) > 0 else 0.0
    if a < floor and b < floor:
        return None
    if a < floor:
        return "appear", change
    if b < floor:
        return "vanish", change
    return ("jump", change) if change > threshold else None


def area_flags(
    object_name: str,
    frames: Sequence[int],
    areas: Sequence[int],
    n_pixels: int,
    *,
    threshold: float = JUMP_THRESHOLD,
    min_area: float = MIN_AREA,
) -> list[AreaFlag]:
    """Frames of one object whose area jumps, vanishes or appears (rule: module docstring).

    Args:
        object_name: Name written into the flags.
        frames: Plate frame numbers, consecutive, in order.
        areas: Area per frame, pixels, aligned with ``frames``.
        n_pixels: Pixels in a frame (``width * height``).
        threshold: Relative change above which a jump is flagged, in ``(0, 1)``.
        min_area: Area floor as a fraction of the frame, in ``[0, 1)``.

    Returns:
        Flags in frame order.

    Raises:
        ExportError: ``frames`` and ``areas`` differ in length.
        ConfigError: ``threshold`` or ``min_area`` is out of range.
    """
    if len(frames) != len(areas):
        raise ExportError(f"{len(frames)} frames but {len(areas)} areas for {object_name!r}")
    if not 0.0 < threshold < 1.0 or not 0.0 <= min_area < 1.0:
        raise ConfigError(
            f"QC thresholds out of range: threshold {threshold} (0 < t < 1), "
            f"min_area {min_area} (0 <= m < 1)"
        )
    floor = min_area * n_pixels
    flags: list[AreaFlag] = []
    flagged: set[int] = set()
    for t in range(1, len(frames)):
        step = _steps(int(areas[t - 1]), int(areas[t]), floor, threshold)
        if step is None:
            continue
        if t - 1 in flagged and _steps(int(areas[t - 2]), int(areas[t]), floor, threshold) is None:
            continue  # back from a one-frame glitch on t-1
        kind, change = step
        flagged.add(t)
        flags.append(
            AreaFlag(
                object=object_name,
                frame=int(frames[t]),
                kind=kind,
                area=int(areas[t]),
                previous=int(areas[t - 1]),
                change=round(change, 4),
            )
        )
    return flags


def sheet_frames(
    first: int, last: int, n_tiles: int = 8, extra: Iterable[int] = (), max_extra: int = 8
) -> list[int]:
    """Frames of the contact sheet: ``n_tiles`` spaced regularly over ``first..last`` (both ends
    included; every frame when the plate is shorter), plus the first ``max_extra`` of ``extra``
    inside the range. Sorted plate frame numbers without repeats."""
    n = max(2, min(n_tiles, last - first + 1)) if last > first else 1
    chosen = {int(round(f)) for f in np.linspace(first, last, n)}
    chosen |= {f for f in list(dict.fromkeys(extra))[:max_extra] if first <= f <= last}
    return sorted(chosen)


def hex_rgb(rgb: Sequence[int]) -> str:
    """``(r, g, b)`` 8-bit -> ``#rrggbb``."""
    return "#" + "".join(f"{int(c):02x}" for c in rgb)


def overlay_tile(
    rgb: np.ndarray,
    alphas: Sequence[np.ndarray],
    colours: Sequence[Sequence[int]],
    size: tuple[int, int],
    *,
    opacity: float = 0.5,
) -> np.ndarray:
    """A downscaled plate frame with mattes overlaid and outlined.

    Args:
        rgb: ``(H, W, 3) uint8`` display-referred RGB plate frame.
        alphas: ``(H, W) float32`` mattes in ``[0, 1]`` (or bool), one per object.
        colours: RGB ``(r, g, b)`` 8-bit colour per object.
        size: ``(width, height)`` of the tile, pixels.
        opacity: Overlay opacity where alpha is 1.

    Returns:
        ``(height, width, 3) uint8`` BGR tile (OpenCV's channel order): ``plate * (1 - opacity *
        alpha) + colour * opacity * alpha`` per object in turn, with the outline of ``alpha >= 0.5``
        drawn one pixel wide in the full colour.
    """
    w, h = size
    tile = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), (w, h), interpolation=cv2.INTER_AREA)
    out = tile.astype(np.float32)
    outlines = []
    for alpha, rgb_colour in zip(alphas, colours, strict=True):
        a = cv2.resize(np.asarray(alpha, np.float32), (w, h), interpolation=cv2.INTER_AREA)
        bgr = np.array(rgb_colour[::-1], np.float32)
        k = (opacity * np.clip(a, 0.0, 1.0))[..., None]
        out = out * (1.0 - k) + bgr * k
        contours, _ = cv2.findContours(
            (a >= 0.5).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE
        )
        outlines.append((contours, tuple(int(c) for c in rgb_colour[::-1])))
    tile = np.clip(np.round(out), 0, 255).astype(np.uint8)
    for contours, bgr in outlines:
        cv2.drawContours(tile, contours, -1, bgr, 1, lineType=cv2.LINE_8)
    return tile


def _label(img: np.ndarray, text: str, x: int, y: int, background: tuple[int, int, int]) -> None:
    (tw, th), base = cv2.getTextSize(text, _FONT, 0.5, 1)
    cv2.rectangle(img, (x, y), (x + tw + 8, y + th + base + 6), background, -1)
    cv2.putText(img, text, (x + 4, y + th + 3), _FONT, 0.5, (255, 255, 255), 1, cv2.LINE_AA)


def contact_sheet(
    shot: str,
    read_frame: Callable[[int], np.ndarray],
    read_alphas: Callable[[int], list[np.ndarray]],
    frames: Sequence[int],
    tile_size: tuple[int, int],
    colours: Sequence[Sequence[int]],
    flags: Sequence[AreaFlag] = (),
    *,
    columns: int = 4,
    legend: Sequence[str] = (),
) -> tuple[np.ndarray, list[SheetTile]]:
    """Lay out overlay tiles of ``frames`` on a sheet.

    Args:
        shot: Shot name for the title strip.
        read_frame: Plate frame number -> ``(H, W, 3) uint8`` RGB.
        read_alphas: Plate frame number -> one ``(H, W) float32`` matte per object.
        frames: Plate frames to show, in order.
        tile_size: ``(width, height)`` of a tile, pixels.
        colours: RGB colour per object.
        flags: Flags; a frame with any gets a red border and its kinds in its label.
        columns: Tiles per row.
        legend: Object names written in their colours in the title strip.

    Returns:
        ``(sheet, tiles)``: ``(H, W, 3) uint8`` BGR sheet and where each frame's tile sits.
    """
    w, h = tile_size
    cols = max(1, min(columns, len(frames)))
    rows = math.ceil(len(frames) / cols)
    sheet = np.full(
        (_TITLE + rows * (h + _GAP) + _GAP, cols * (w + _GAP) + _GAP, 3), 32, dtype=np.uint8
    )
    cv2.putText(sheet, shot, (_GAP + 2, 19), _FONT, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    x = _GAP + 12 + cv2.getTextSize(shot, _FONT, 0.6, 1)[0][0]
    for name, rgb in zip(legend, colours, strict=False):
        cv2.putText(sheet, name, (x, 19), _FONT, 0.5, tuple(int(c) for c in rgb[::-1]), 1)
        x += 12 + cv2.getTextSize(name, _FONT, 0.5, 1)[0][0]
    kinds: dict[int, list[str]] = {}
    for f in flags:
        kinds.setdefault(f.frame, []).append(f.kind)
    red = FLAG_RGB[::-1]
    tiles = []
    for i, frame in enumerate(frames):
        tx = _GAP + (i % cols) * (w + _GAP)
        ty = _TITLE + _GAP + (i // cols) * (h + _GAP)
        tile = overlay_tile(read_frame(frame), read_alphas(frame), colours, (w, h))
        flagged = frame in kinds
        if flagged:
            cv2.rectangle(tile, (0, 0), (w - 1, h - 1), red, _FLAG_BORDER)
            text = f"{frame} {'/'.join(dict.fromkeys(kinds[frame]))}"
            _label(tile, text, _FLAG_BORDER, _FLAG_BORDER, red)
        else:
            _label(tile, str(frame), 0, 0, (0, 0, 0))
        sheet[ty : ty + h, tx : tx + w] = tile
        tiles.append(SheetTile(frame=frame, x=tx, y=ty, width=w, height=h, flagged=flagged))
    return sheet, tiles


def run(
    shot: str,
    ingest_out: StageOutput,
    propagate_out: StageOutput,
    dest: str | os.PathLike,
    *,
    matte_out: StageOutput | None = None,
    threshold: float = JUMP_THRESHOLD,
    min_area: float = MIN_AREA,
    n_tiles: int = 8,
    tile_width: int = 320,
    max_flagged_tiles: int = 8,
    publish_dir: str | os.PathLike | None = None,
) -> QCReport:
    """QC a finished shot: areas per frame, flags, ``contact_sheet.png`` and ``qc.json`` in ``dest``.

    Frames are streamed: the areas pass reads each object's matte once per frame, the sheet pass
    reads the proxy frames and mattes of the sheet's frames only.

    Args:
        shot: Shot name (sheet title).
        ingest_out: Finished ingest stage (proxy frames and plate metadata).
        propagate_out: Finished propagate stage (object names, binary masks).
        dest: Folder receiving the two files (created if missing); each is written atomically.
        matte_out: Finished matte stage; areas and overlays use its alpha. None: the binary masks.
        threshold: Relative area change flagged as a jump.
        min_area: Area floor, fraction of the frame.
        n_tiles: Regularly spaced frames on the sheet (first and last included).
        tile_width: Tile width in pixels; the height keeps the plate's display aspect.
        max_flagged_tiles: Flagged frames added to the sheet beyond the regular ones, at most.
        publish_dir: Where the two files will be published (the report names them there);
            None: ``dest``.

    Returns:
        The report, also written as ``dest/qc.json``.

    Raises:
        ExportError: a mask or matte file is missing or unreadable, or the sheet cannot be written.
        ConfigError: ``threshold`` or ``min_area`` is out of range.
        PlateError: a proxy frame cannot be read.
    """
    info = ingest.plate_info(ingest_out)
    names = [o.name for o in propagate_out.objects()]
    frames = list(info.frame_range)
    n_pixels = info.width * info.height

    def read_alphas(frame: int) -> list[np.ndarray]:
        if matte_out is None:
            return [propagate.read_mask(propagate_out, n, frame) for n in names]
        return [read_alpha_exr(matte.alpha_path(matte_out, n, frame)) for n in names]

    areas: dict[str, list[int]] = {n: [] for n in names}
    for i, frame in enumerate(frames):
        for name, alpha in zip(names, read_alphas(frame), strict=True):
            areas[name].append(int(np.count_nonzero(alpha > 0.5)))
        progress.report("areas", i + 1, len(frames))
    flags = sorted(
        (
            f
            for n in names
            for f in area_flags(
                n, frames, areas[n], n_pixels, threshold=threshold, min_area=min_area
            )
        ),
        key=lambda f: (f.frame, names.index(f.object)),
    )
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(names))]
    tile_h = max(1, round(tile_width * info.height / (info.width * info.pixel_aspect)))
    shown = sheet_frames(
        info.first_frame,
        info.last_frame,
        n_tiles,
        [f.frame for f in flags],
        max_flagged_tiles,
    )
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with ingest.open_proxies(ingest_out) as plate:
        sheet, tiles = contact_sheet(
            shot,
            plate.read,
            read_alphas,
            shown,
            (tile_width, tile_h),
            colours,
            flags,
            legend=names,
        )
    sheet_path = dest / SHEET_NAME
    named = Path(publish_dir) if publish_dir is not None else dest
    with atomic_target(sheet_path) as tmp:
        if not cv2.imwrite(str(tmp), sheet):
            raise ExportError(f"cannot write contact sheet {str(sheet_path)!r}")
    report = QCReport(
        shot=shot,
        width=info.width,
        height=info.height,
        frames=frames,
        areas=areas,
        fractions={n: [round(a / n_pixels, 6) for a in v] for n, v in areas.items()},
        source="mask" if matte_out is None else "alpha",
        threshold=threshold,
        min_area=min_area,
        flags=flags,
        colours={n: hex_rgb(c) for n, c in zip(names, colours, strict=True)},
        contact_sheet=str(named / SHEET_NAME),
        json_path=str(named / JSON_NAME),
        tiles=tiles,
    )
    atomic_write_text(dest / JSON_NAME, report.model_dump_json(indent=1))
    log.info(
        "QC of %s: %d frames, %d objects, %d flagged frames",
        shot,
        len(frames),
        len(names),
        len(report.flagged_frames()),
    )
    return report
