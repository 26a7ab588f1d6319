"""The options that ``rotoflow run`` and ``rotoflow submit`` share: the plate, the prompts and the
model choices, as typer parameter types (one definition, one help text), and how the command line
becomes prompts (:func:`build_prompts`), format lists and exit codes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from exporters import MATTE_SHOT_FORMAT_NAMES, ROTO_FORMAT_NAMES
from renders import KINDS as RENDER_KINDS

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
Shapes = Annotated[
    list[str],
    typer.Option(
        "--shapes",
        help="Roto shape file (.nk, .fxs, .setting, .lottie.json, .json) whose shape's keys are "
        "mask prompts on its key frames (repeatable).",
    ),
]
ShapeName = Annotated[
    str | None,
    typer.Option("--shape-name", help="Shape (object) name in the --shapes files."),
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
FORMATS_HELP = (
    "Formats, comma-separated: roto "
    + ", ".join(ROTO_FORMAT_NAMES)
    + "; mattes "
    + ", ".join(MATTE_SHOT_FORMAT_NAMES)
    + "."
)
Formats = Annotated[str, typer.Option("--format", help=FORMATS_HELP)]
StartFrame = Annotated[
    int | None,
    typer.Option(
        "--start-frame",
        help="Host frame at which the plate's first frame is keyed in the roto formats "
        "(0 for a clip in Resolve's Fusion page; negative only for nuke, fusion, shapes_json). "
        "Default: the plate's own first frame (a Nuke or Fusion comp on plate numbers).",
    ),
]
RENDERS_HELP = (
    "Movies rendered from the plate and the mattes, comma-separated: "
    + "; ".join(f"{k.name} ({k.help})" for k in RENDER_KINDS.values())
    + ". Default: none."
)
Renders = Annotated[str, typer.Option("--render", help=RENDERS_HELP)]
RenderObjects = Annotated[
    str,
    typer.Option(
        "--objects", help="Objects the renders show, comma-separated names (default: all)."
    ),
]
KeyColour = Annotated[
    str,
    typer.Option(
        "--key-colour",
        help="The greenscreen's key colour, R,G,B (0-255) or #RRGGBB in the plate's display space.",
    ),
]
Shot = Annotated[str | None, typer.Option(help="Shot name (default: from the plate).")]
Project = Annotated[str | None, typer.Option(help="Project name.")]
OutDir = Annotated[Path | None, typer.Option("--out", help="Output root folder.")]

err = Console(stderr=True)

EXIT_INPUT = 2
EXIT_FAILURE = 1


def fail(message: str, code: int) -> None:
    """Print ``error: message`` on stderr and exit with ``code`` (rich markup in ``message`` is
    rendered)."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _floats(text: str, n: int, what: str) -> list[float]:
    parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != n:
        fail(f"{what} {text!r} must be {n} numbers separated by commas", EXIT_INPUT)
    return values


def _object_name(text: str | None) -> str:
    words = re.findall(r"[A-Za-z0-9]+", (text or "").lower())
    words = [w for w in words if w not in {"the", "a", "an"}]
    return "_".join(words)[:40] or "object1"


def build_prompts(
    prompt: str | None,
    boxes: list[str],
    points: list[str],
    negatives: list[str],
    frame: int | None,
    name: str | None,
    prompts_file: Path | None,
    masks: list[str] | None = None,
    all_matches: bool = False,
    shapes: list[str] | None = None,
    shape_name: str | None = None,
):
    """The :class:`ShotPrompts` of the command line (one object) or of a JSON file (any number)."""
    from pydantic import ValidationError

    from rotoflow.prompts import ShotPrompts, describe_validation_error

    try:
        if prompts_file is not None:
            return ShotPrompts.model_validate_json(prompts_file.read_text())
        if not (prompt or boxes or points or masks or shapes):
            fail(
                "give a --prompt, a --box, a --point, a --mask or --shapes (or --prompts FILE.json)",
                EXIT_INPUT,
            )
        if shape_name and not shapes:
            fail("--shape-name needs --shapes FILE", EXIT_INPUT)
        obj = {
            "id": 1,
            "name": name or _object_name(prompt or shape_name),
            "text": prompt,
            "frame": frame if prompt else None,
            "boxes": [
                dict(
                    zip(("x0", "y0", "x1", "y1"), _floats(b, 4, "--box"), strict=True), frame=frame
                )
                for b in boxes
            ],
            "points": [
                {"x": x, "y": y, "positive": pos, "frame": frame}
                for pts, pos in ((points, True), (negatives, False))
                for x, y in (_floats(p, 2, "--point") for p in pts)
            ],
            "masks": [{"path": m, "frame": frame} for m in masks or []],
            "shapes": [{"path": p, "shape": shape_name} for p in shapes or []],
            "all_matches": all_matches,
        }
        return ShotPrompts.model_validate({"objects": [obj]})
    except ValidationError as exc:
        fail(describe_validation_error(exc), EXIT_INPUT)
    except OSError as exc:
        fail(f"cannot read {prompts_file}: {exc.strerror}", EXIT_INPUT)


def format_list(text: str) -> list[str]:
    """Format names of a ``--format`` value: ``"nuke, svg"`` -> ``["nuke", "svg"]``."""
    return [f.strip() for f in text.split(",") if f.strip()]


def check_renders(job, prompts) -> None:
    """Check a job's renders before it starts: known kinds, a key colour that parses, and
    objects to render that the prompts name (an ``all_matches`` prompt's objects are named only
    once detected, and are checked by the render stage).

    Raises:
        RenderError: One of them is wrong (one line, the choices listed).
    """
    from renders import check_kinds, parse_colour
    from rotoflow.errors import RenderError

    if not job.renders:
        if job.render_objects:
            raise RenderError("--objects chooses what the renders show: give --render too")
        return
    check_kinds(job.renders)
    parse_colour(job.key_colour)
    if any(o.all_matches for o in prompts.objects):
        return
    names = [o.name for o in prompts.objects]
    for name in job.render_objects:
        if name not in names:
            raise RenderError(
                f"object {name!r} is not in the shot; its objects: {', '.join(names)}"
            )
