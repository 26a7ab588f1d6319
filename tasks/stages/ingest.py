"""Ingest: open the plate, check the prompts against it and write display-referred 8-bit proxies.

Every later stage reads the proxies (a PNG sequence with the plate's frame numbers) instead of the
source plate, so a movie is decoded once and frames can be read in any order cheaply.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import cv2

from rotoflow import progress
from rotoflow.errors import PlateError
from rotoflow.plate import Plate, open_plate
from rotoflow.prompts import ShotPrompts
from rotoflow.types import PlateInfo
from rotoflow.workspace import ShotWorkspace, StageOutput

log = logging.getLogger(__name__)

STAGE = "ingest"
PROXY_PREFIX = "frame"


def proxy_pattern(stage_dir: Path, padding: int) -> Path:
    """The printf pattern of the proxy frames inside an ingest folder."""
    return stage_dir / f"{PROXY_PREFIX}.%0{padding}d.png"


def plate_info(out: StageOutput) -> PlateInfo:
    """The source plate's metadata recorded by ingest."""
    return PlateInfo(**out.details["plate"])


def open_proxies(out: StageOutput) -> Plate:
    """Open the proxy frames written by ingest as a plate (same frame numbers as the source)."""
    info = plate_info(out)
    return open_plate(proxy_pattern(out.dir, info.padding))


def _write_proxy(path: Path, rgb) -> None:
    """Write one ``(H, W, 3) uint8`` RGB proxy frame as PNG.

    Raises:
        OSError: the file cannot be written; it names the file (a full disk is ``ENOSPC``, which
            OpenCV's own writer would only report as failure).
    """
    ok, data = cv2.imencode(
        ".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1]
    )
    if not ok:
        raise PlateError(f"cannot encode proxy frame {path}")
    try:
        path.write_bytes(data.tobytes())
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from exc


def run(
    plate_path: str,
    prompts: ShotPrompts,
    ws: ShotWorkspace,
    key: str,
    *,
    movie_first_frame: int = 1,
    ocio_config: str | None = None,
) -> StageOutput:
    """Read the plate once and write 8-bit RGB PNG proxies named with the plate's frame numbers.

    Args:
        plate_path: Movie file, sequence pattern, member file or folder.
        prompts: The shot's prompts; checked against the plate before any frame is decoded.
        ws: The shot's workspace.
        key: Cache key of this stage run.
        movie_first_frame: Frame number of a movie's first frame.
        ocio_config: OpenColorIO config for scene-linear plates (None: sRGB).

    Returns:
        The stage output; ``details["plate"]`` holds the source :class:`PlateInfo` fields.

    Raises:
        PlateError: the plate cannot be read (missing, empty, truncated, gap in the sequence).
        PromptError: a prompt's frame or coordinates fall outside the plate.
    """
    run = ws.begin(STAGE, key)
    if run.done:
        return run.done
    with open_plate(
        plate_path, movie_first_frame=movie_first_frame, ocio_config=ocio_config
    ) as plate:
        info = plate.info
        prompts.check_against(info)
        with run.staging() as tmp:
            pattern = str(proxy_pattern(tmp, info.padding))
            total = info.n_frames
            n = 0
            for frame, rgb in plate.iter_frames():
                if rgb.shape[:2] != (info.height, info.width):
                    raise PlateError(
                        f"{info.path}: frame {frame} is {rgb.shape[1]}x{rgb.shape[0]}, the plate is "
                        f"{info.width}x{info.height}"
                    )
                _write_proxy(Path(pattern % frame), rgb)
                n += 1
                progress.report("ingest", n, total)
            if n != total:
                raise PlateError(
                    f"{info.path}: decoded {n} frames, expected {total} "
                    f"({info.first_frame}-{info.last_frame}); the file may be truncated"
                )
            log.info("ingested %s: %d frames %dx%d", info.path, n, info.width, info.height)
            return run.commit(tmp, n_frames=n, details={"plate": dataclasses.asdict(info)})
