"""Vectorize: one animated closed cubic Bezier roto shape per object, fitted to its masks."""

from __future__ import annotations

import time

from exporters import atomic_write_text, shapes_json
from rotoflow import progress
from rotoflow.geometry import fit_shape
from rotoflow.stages import detect, ingest, propagate
from rotoflow.storage import ShotWorkspace, StageOutput

STAGE = "vectorize"
SHAPES = "shapes.json"


def run(
    ingest_out: StageOutput,
    detect_out: StageOutput,
    propagate_out: StageOutput,
    ws: ShotWorkspace,
    key: str,
) -> StageOutput:
    """Fit every object's masks and write ``shapes.json`` (roto-shapes JSON, image space)."""
    if done := ws.finished(STAGE, key):
        return done
    t0 = time.perf_counter()
    info = ingest.plate_info(ingest_out)
    objects = detect.load(detect_out)
    total = info.n_frames * len(objects)
    shapes = []
    counter = {"n": 0}

    def masks(name: str):
        for frame in info.frame_range:
            yield frame, propagate.read_mask(propagate_out, name, frame)
            counter["n"] += 1
            progress.report("vectorize", counter["n"], total)

    for obj in objects:
        shapes.append(fit_shape(masks(obj.name), obj.id, obj.name))
    with ws.staging(STAGE, key) as tmp:
        atomic_write_text(tmp / SHAPES, shapes_json.write_to_string(shapes, info.format))
        return ws.commit(
            tmp,
            STAGE,
            key,
            started=t0,
            n_frames=info.n_frames,
            details={"points": {s.name: s.n_points for s in shapes}},
        )
