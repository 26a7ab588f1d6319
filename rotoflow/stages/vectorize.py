"""Vectorize: every object's masks to animated closed cubic Bezier roto shapes, one per contour."""

from __future__ import annotations

import time

from exporters import shapes_json
from exporters.names import shape_names
from rotoflow import progress
from rotoflow.files import atomic_write_text
from rotoflow.geometry import fit_shapes
from rotoflow.mattes import read_alpha_exr
from rotoflow.stages import detect, ingest, matte, propagate
from rotoflow.storage import ShotWorkspace, StageOutput

STAGE = "vectorize"
SHAPES = "shapes.json"


def run(
    ingest_out: StageOutput,
    detect_out: StageOutput,
    propagate_out: StageOutput,
    matte_out: StageOutput,
    ws: ShotWorkspace,
    key: str,
) -> StageOutput:
    """Fit every object's masks and write ``shapes.json`` (roto-shapes JSON, image space).

    Shapes come from the binary masks (:func:`rotoflow.geometry.fit_shapes`); the feather of each
    contour from the soft edge of the object's alpha. ``details`` holds the objects
    (``[[id, name], ...]``, those without any contour too) and the control points per shape.
    """
    if done := ws.finished(STAGE, key):
        return done
    t0 = time.perf_counter()
    info = ingest.plate_info(ingest_out)
    objects = detect.load(detect_out)
    total = info.n_frames * len(objects)
    shapes = []
    counter = {"n": 0}

    def frames(name: str):
        for frame in info.frame_range:
            mask = propagate.read_mask(propagate_out, name, frame)
            yield frame, mask, read_alpha_exr(matte.alpha_path(matte_out, name, frame))
            counter["n"] += 1
            progress.report("vectorize", counter["n"], total)

    for obj in objects:
        shapes.extend(fit_shapes(frames(obj.name), obj.id, obj.name))
    with ws.staging(STAGE, key) as tmp:
        atomic_write_text(tmp / SHAPES, shapes_json.write_to_string(shapes, info.format))
        return ws.commit(
            tmp,
            STAGE,
            key,
            started=t0,
            n_frames=info.n_frames,
            details={
                "objects": [[o.id, o.name] for o in objects],
                "points": dict(zip(shape_names(shapes), (s.n_points for s in shapes), strict=True)),
            },
        )
