"""Matte: a soft alpha for every object on every frame, solved on the band around the mask edge."""

from __future__ import annotations

from pathlib import Path

from models.base import Matter
from rotoflow import progress
from rotoflow.mattes import output_name, write_alpha_exr
from rotoflow.workspace import ShotWorkspace, StageOutput
from tasks.stages import ingest, propagate

STAGE = "matte"


def alpha_path(out: StageOutput, object_name: str, frame: int) -> Path:
    """Path of an object's alpha on a frame inside a finished matte folder."""
    return out.dir / object_name / output_name(object_name, frame, out.details["padding"], "exr")


def run(
    ingest_out: StageOutput,
    propagate_out: StageOutput,
    ws: ShotWorkspace,
    key: str,
    matter: Matter,
) -> StageOutput:
    """Write ``<object>.<frame>.exr`` half-float alpha (channel ``A``) at the plate's resolution."""
    run = ws.begin(STAGE, key)
    if run.done:
        return run.done
    info = ingest.plate_info(ingest_out)
    names = [o.name for o in propagate_out.objects()]
    total = info.n_frames * len(names)
    n = 0
    with ingest.open_proxies(ingest_out) as plate, run.staging() as tmp:
        for name in names:
            (tmp / name).mkdir()
        for frame, rgb in plate.iter_frames():
            for name in names:
                alpha = matter.matte(rgb, propagate.read_mask(propagate_out, name, frame))
                write_alpha_exr(
                    tmp / name / output_name(name, frame, info.padding, "exr"),
                    alpha,
                    pixel_aspect=info.pixel_aspect,
                )
                n += 1
                progress.report("matte", n, total)
        return run.commit(
            tmp,
            n_frames=info.n_frames,
            details={"matter": f"{matter.name}@{matter.version}", "padding": info.padding},
        )
