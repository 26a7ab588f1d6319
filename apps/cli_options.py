"""The options that ``rotoflow run`` and ``rotoflow submit`` share: the plate, the prompts and the
model choices, as typer parameter types (one definition, one help text)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Plate = Annotated[
    str,
    typer.Argument(
        help="Movie file, sequence (sh010.####.exr), member file or folder; or an s3:// URL."
    ),
]
Prompt = Annotated[str | None, typer.Option(help="Text prompt, e.g. 'the dancer'.")]
Boxes = Annotated[list[str], typer.Option(help="Box x0,y0,x1,y1 in plate pixels (repeatable).")]
Points = Annotated[list[str], typer.Option(help="Positive click x,y in plate pixels (repeatable).")]
Negatives = Annotated[list[str], typer.Option(help="Negative click x,y (repeatable).")]
Masks = Annotated[
    list[str], typer.Option(help="Mask image of the object at plate resolution (repeatable).")
]
AllMatches = Annotated[
    bool, typer.Option(help="Make every match of the text prompt its own object.")
]
Frame = Annotated[
    int | None, typer.Option(help="Plate frame of the prompt (default: first frame).")
]
Name = Annotated[str | None, typer.Option(help="Object name (default: from the prompt).")]
PromptsFile = Annotated[
    Path | None, typer.Option(help="JSON file of ShotPrompts (several objects).")
]
Models = Annotated[
    str | None,
    typer.Option(help="Model set: 'lite' (CPU) or 'full' (default: ROTOFLOW_MODELS, 'lite')."),
]
Detector = Annotated[str | None, typer.Option(help="Detector override, e.g. grounding-dino-base.")]
Segmenter = Annotated[
    str | None, typer.Option(help="Keyframe segmenter override, e.g. sam2.1-hiera-large.")
]
Tracker = Annotated[
    str | None, typer.Option(help="Propagation override, e.g. sam2.1-hiera-base-plus.")
]
Matter = Annotated[str | None, typer.Option(help="Matter override, e.g. vitmatte-base.")]
Formats = Annotated[
    str, typer.Option("--format", help="Roto formats, comma-separated (see `rotoflow export`).")
]
Shot = Annotated[str | None, typer.Option(help="Shot name (default: from the plate).")]
Project = Annotated[str | None, typer.Option(help="Project name.")]
OutDir = Annotated[Path | None, typer.Option("--out", help="Output root folder.")]
