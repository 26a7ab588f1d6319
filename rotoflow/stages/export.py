"""Export: write the roto script and publish masks, alpha and shapes into the shot folder."""

from __future__ import annotations

import time
from pathlib import Path

from exporters import atomic_write_text, nuke, shapes_json
from exporters.mattes import output_name
from rotoflow.stages import ingest, matte, propagate, vectorize
from rotoflow.storage import ShotWorkspace, StageOutput, publish_tree

STAGE = "export"


def run(
    shot_name: str,
    ingest_out: StageOutput,
    propagate_out: StageOutput,
    matte_out: StageOutput,
    vectorize_out: StageOutput,
    ws: ShotWorkspace,
    key: str,
) -> StageOutput:
    """Write ``<shot>.nk`` (once per key) and publish every output of the shot (every run).

    Published layout: ``masks/<object>/<object>.<frame>.png``, ``alpha/<object>/<object>.<frame>.exr``,
    ``roto/<shot>.nk`` and ``roto/<shot>.shapes.json``. Each top-level folder appears complete or
    not at all. ``details["outputs"]`` lists ``[kind, object_id, frame, relative path]`` rows.
    """
    t0 = time.perf_counter()
    info = ingest.plate_info(ingest_out)
    fmt, shapes = shapes_json.read_from_string((vectorize_out.dir / vectorize.SHAPES).read_text())
    done = ws.finished(STAGE, key)
    if done is None:
        with ws.staging(STAGE, key) as tmp:
            script = nuke.write_to_string(shapes, fmt, node_name=f"Roto_{shot_name}")
            atomic_write_text(tmp / f"{shot_name}.nk", script)
            done = ws.commit(tmp, STAGE, key, started=t0, n_frames=info.n_frames)
    sources: dict[str, Path] = {}
    rows: list[list] = []

    def add(kind: str, obj: int | None, frame: int | None, rel: str, src: Path) -> None:
        sources[rel] = src
        rows.append([kind, obj, frame, rel])

    for shape in shapes:
        for frame in info.frame_range:
            name = output_name(shape.name, frame, info.padding, "png")
            add(
                "mask",
                shape.object_id,
                frame,
                f"masks/{shape.name}/{name}",
                propagate.mask_path(propagate_out, shape.name, frame),
            )
            name = output_name(shape.name, frame, info.padding, "exr")
            add(
                "alpha",
                shape.object_id,
                frame,
                f"alpha/{shape.name}/{name}",
                matte.alpha_path(matte_out, shape.name, frame),
            )
    add("nuke", None, None, f"roto/{shot_name}.nk", done.dir / f"{shot_name}.nk")
    add("shapes", None, None, f"roto/{shot_name}.shapes.json", vectorize_out.dir / vectorize.SHAPES)
    publish_tree(sources, ws.root)
    return done.model_copy(
        update={"seconds": time.perf_counter() - t0, "details": {"outputs": rows}}
    )
