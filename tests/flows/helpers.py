"""Shared helpers of the flow tests: settings in a temporary home, DAVIS jobs, frame folders."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import httpx
import numpy as np

from rotoflow.pipeline import RotoJob
from rotoflow.settings import get_settings
from tests.conftest import YOLOX, davis_frames, davis_masks


def use_home(home: Path) -> None:
    """Point Rotoflow's settings (database, outputs, weights) at a temporary home."""
    os.environ["ROTOFLOW_HOME"] = str(home)
    os.environ["ROTOFLOW_OUTPUT_ROOT"] = str(home / "out")
    os.environ["ROTOFLOW_YOLOX_MODEL"] = str(YOLOX)
    get_settings.cache_clear()


def gt_box(seq: str) -> dict:
    gt = cv2.imread(str(davis_masks(seq) / "00000.png"), cv2.IMREAD_GRAYSCALE)
    ys, xs = np.nonzero(gt > 127)
    return {
        "x0": float(xs.min()),
        "y0": float(ys.min()),
        "x1": xs.max() + 1.0,
        "y1": ys.max() + 1.0,
    }


def davis_job(seq: str, *, text: str | None = None, box: bool = False, **kw) -> RotoJob:
    obj: dict = {"id": 1, "name": "object"}
    if text:
        obj["text"] = text
    if box:
        obj["boxes"] = [gt_box(seq)]
    return RotoJob(plate=str(davis_frames(seq)), prompts={"objects": [obj]}, shot=seq, **kw)


PUBLISHED_TOPS = ("masks", "alpha", "roto")
"""The top folders of a shot that hold its published outputs (QC aside)."""


def published_files(shot: Path) -> dict[str, bytes]:
    """Every file under a shot's :data:`PUBLISHED_TOPS` folders: relative path
    (``"masks/object/object.00000.png"``) to its bytes, in path order; empty when none exist."""
    return {
        str(p.relative_to(shot)): p.read_bytes()
        for top in PUBLISHED_TOPS
        for p in sorted((shot / top).rglob("*"))
        if p.is_file()
    }


def frame_folder(seq: str, dest: Path, frames: range, *, start: int = 0) -> Path:
    """A folder of symlinks to some DAVIS frames, renumbered from ``start``."""
    dest.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        (dest / f"{start + i:05d}.jpg").symlink_to(davis_frames(seq) / f"{f:05d}.jpg")
    return dest


def api_json(
    method: str,
    url: str,
    json: dict | None = None,
    attempts: int = 5,
    auth: tuple[str, str] | None = None,
):
    """The JSON answer of a Prefect server REST call made while runs load the server: a 30 s
    timeout, and up to ``attempts`` tries when the answer times out or the connection drops (a
    SQLite-backed server on two cores can stall for seconds while two workers write to it).
    ``auth``: the ``(user, password)`` of a server with basic authentication."""
    for attempt in range(attempts):
        try:
            answer = httpx.request(method, url, json=json, timeout=30, auth=auth)
            return answer.raise_for_status().json()
        except httpx.TransportError:
            if attempt == attempts - 1:
                raise
