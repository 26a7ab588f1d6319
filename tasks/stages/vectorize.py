"""Vectorize: every object's masks to animated closed cubic Bezier roto shapes, one per contour."""

from __future__ import annotations

import dataclasses

from exporters import shapes_json
from exporters.names import shape_names
from rotoflow import progress
from rotoflow.files import atomic_write_text
from rotoflow.geometry import fit_shapes, speck_area
from rotoflow.mattes import read_alpha_exr
from rotoflow.types import ObjectRef
from rotoflow.workspace import ShotWorkspace, StageOutput
from tasks.stages import detect, ingest, matte, propagate

STAGE = "vectorize"
SHAPES = "shapes.json"


def run(
    ingest_out: StageOutput,
    detect_out: StageOutput,
    propagate_out: StageOutput,
    matte_out: StageOutput,
    ws: ShotWorkspace,
    key: str,
    *,
    min_area: float = 0.0,
    min_frames: int = 0,
    max_loss: float = 0.0,
    tolerance: float = 1.0,
) -> StageOutput:
    """Fit every object's masks and write ``shapes.json`` (roto-shapes JSON, image space).

    Shapes come from the binary masks (:func:`rotoflow.geometry.fit_shapes`); the feather of each
    contour from the soft edge of the object's alpha. Islands and holes that never enclose
    ``min_area`` of the plate's area (a fraction; :func:`rotoflow.geometry.speck_area` turns it
    into square pixels, at least 16) or live fewer than ``min_frames`` frames get no shape (the
    settings ``shape_min_area`` and ``shape_min_frames``; both 0: every contour), unless together
    they would take more than ``max_loss`` of the object's area over the shot (``shape_max_loss``;
    the largest are then kept, :func:`rotoflow.geometry.specks.drop_specks`); ``tolerance`` is
    the fit's mean distance in pixels (``shape_tolerance``); all four are in the stage's key. The masks and alpha are not touched. ``details`` holds the objects
    (:class:`~rotoflow.types.ObjectRef` fields, those without any contour too; read them with
    :meth:`rotoflow.workspace.StageOutput.objects`) and the control points per shape.
    """
    run = ws.begin(STAGE, key)
    if run.done:
        return run.done
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

    area = speck_area(info.width, info.height, min_area)
    for obj in objects:
        shapes.extend(
            fit_shapes(
                frames(obj.name),
                obj.id,
                obj.name,
                min_area=area,
                min_frames=min_frames,
                max_loss=max_loss,
                tolerance=tolerance,
            )
        )
    with run.staging() as tmp:
        atomic_write_text(tmp / SHAPES, shapes_json.write_to_string(shapes, info.format))
        return run.commit(
            tmp,
            n_frames=info.n_frames,
            details={
                "objects": [dataclasses.asdict(ObjectRef(o.id, o.name)) for o in objects],
                "points": dict(zip(shape_names(shapes), (s.n_points for s in shapes), strict=True)),
            },
        )
