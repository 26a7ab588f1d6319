"""The roto job's parameters, shot naming and the cache keys that chain the stages.

A stage's key is a hash of everything its output depends on: the keys of the stages it reads, its
model's name and version, its parameters and the Rotoflow version. Re-running a shot with the same
plate bytes, prompts, models and parameters gives the same keys and reuses finished stages.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from rotoflow import __version__
from rotoflow.colour import config_digest
from rotoflow.files import MAX_NAME, NAME_PATTERN, check_name, clean_name, inside, sha256_file
from rotoflow.prompts import ShotPrompts
from rotoflow.roots import check_output_root, check_plate
from rotoflow.s3url import is_s3_url, parse_url
from rotoflow.workspace import fingerprint

STAGES = ("ingest", "detect", "segment", "propagate", "matte", "vectorize", "export")


class RotoJob(BaseModel):
    """Parameters of one roto run on one shot.

    The Prefect UI renders them as the roto-shot deployment's form, each field with its title
    and description; the CLI builds the same model from its options.
    """

    plate: str = Field(
        title="Plate",
        description="Movie file, image-sequence pattern (sh010.####.exr), member file or folder; "
        "or any of these in object storage as an s3://bucket/key URL (downloaded to a local cache "
        "before ingest; the shot records the URL).",
    )
    prompts: ShotPrompts = Field(
        title="Objects and prompts",
        description="One entry per object: text, boxes and/or clicks on plate frames "
        "(plate pixels, origin top-left; frames are plate frame numbers).",
    )
    shot: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        max_length=MAX_NAME,
        title="Shot",
        description="Shot name: letters, digits, '_', '.', '-' (default: from the plate's file "
        "name). The shot's folder is <output root>/<project>/<shot>.",
    )
    project: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        max_length=MAX_NAME,
        title="Project",
        description="Project the shot is filed under (default: the ROTOFLOW_PROJECT setting); "
        "letters, digits, '_', '.', '-'.",
    )
    models: str | None = Field(
        default=None,
        title="Model set",
        description="lite (any CPU) or full (SAM 2, Grounding DINO, ViTMatte); default: the "
        "ROTOFLOW_MODELS setting, lite.",
    )
    detector: str | None = Field(
        default=None,
        title="Detector override",
        description="yolox-nano, grounding-dino-tiny, ...",
    )
    segmenter: str | None = Field(
        default=None,
        title="Keyframe segmenter override",
        description="grabcut, sam2.1-hiera-tiny, ...",
    )
    tracker: str | None = Field(
        default=None,
        title="Propagation override",
        description="flow, sam2.1-hiera-base-plus, ...",
    )
    matter: str | None = Field(
        default=None, title="Matter override", description="pymatting, vitmatte-small, ..."
    )
    output_root: str | None = Field(
        default=None,
        title="Output root",
        description="Folder receiving the shot folder (default: the ROTOFLOW_OUTPUT_ROOT setting).",
    )
    formats: list[str] = Field(
        default=["nuke"],
        title="Roto formats",
        description="Roto shape formats written beside the pipeline JSON: nuke, silhouette, "
        "fusion, after_effects, lottie, svg; and matte formats: cryptomatte.",
    )
    start_frame: int | None = Field(
        default=None,
        title="Host start frame",
        description="Host frame at which the plate's first frame is keyed in the roto formats "
        "(0 for a clip in Resolve's Fusion page); default: the plate's own first frame.",
    )
    renders: list[str] = Field(
        default_factory=list,
        title="Renders",
        description="Movies rendered from the plate and the mattes: greenscreen (H.264), rgba "
        "(ProRes 4444 with alpha), overlay (review movie, H.264). Default: none.",
    )
    render_objects: list[str] = Field(
        default_factory=list,
        title="Objects to render",
        description="Names of the objects the renders show; default: every object.",
    )
    key_colour: str = Field(
        default="0,255,0",
        title="Key colour",
        description="The greenscreen's colour, R,G,B (0-255) or #RRGGBB in the plate's display "
        "space.",
    )

    def overrides(self) -> dict[str, str]:
        """The per-stage model overrides that are set."""
        stages = ("detector", "segmenter", "tracker", "matter")
        return {s: getattr(self, s) for s in stages if getattr(self, s)}


_FRAME_TOKEN = re.compile(r"(^|[._])(%0?\d*d|#+|@+|\d+)$")
MOVIE_SUFFIXES = {".mp4", ".mov", ".mxf", ".mkv", ".avi", ".m4v", ".webm"}
"""File suffixes read as movies (anything else is an image, a sequence or a folder)."""


def default_shot_name(plate: str) -> str:
    """Shot name from a plate path: ``/a/sh010.####.exr`` -> ``sh010``; ``/a/clip.mov`` -> ``clip``;
    a folder or a sequence with no name before the frame number -> the folder's name. An ``s3://``
    URL is named by its key the same way (``s3://b/shots/dog/`` -> ``dog``).

    The name is one safe path component (:func:`rotoflow.files.clean_name`): accents folded,
    other characters ``_``, never ``.`` or ``..`` (a plate ``...mp4`` or a folder ``sub/..`` is
    named by its resolved folder, else ``shot``), at most :data:`~rotoflow.files.MAX_NAME`
    characters.
    """
    if is_s3_url(plate):
        plate = "/" + plate[5:].partition("/")[2].rstrip("/")
        p = Path(plate)
    else:
        p = Path(plate)
        if p.name in ("", ".", ".."):  # only then: a linked folder keeps its own name
            p = p.resolve()
    if p.is_dir():
        name = p.name
    elif p.suffix.lower() in MOVIE_SUFFIXES:
        name = p.stem
    else:
        name = _FRAME_TOKEN.sub("", p.stem if p.suffix else p.name) or p.parent.name
    return clean_name(name, "shot")


def input_digests(prompts: ShotPrompts, ocio_config: str | None) -> dict:
    """The content of every input file besides the plate, for stage keys: the sha256 of each mask
    prompt (``{object name: [[frame, path, sha256], ...]}``; None for a file that cannot be read,
    which ingest then reports), of each shapes prompt's file (rows ``["shapes", path, sha256]``
    after the masks') and the OCIO config's :func:`~rotoflow.colour.config_digest`.

    An edited mask, shape file or config therefore changes the keys, and the stages that read it run again.

    Raises:
        ConfigError: The OCIO config file cannot be read.
    """
    masks = {}
    for obj in prompts.objects:
        rows = []
        for m in obj.masks:
            try:
                digest = sha256_file(m.path)
            except OSError:
                digest = None
            rows.append([m.frame, m.path, digest])
        for sp in obj.shapes:
            try:
                digest = sha256_file(sp.path)
            except OSError:
                digest = None
            rows.append(["shapes", sp.path, digest])
        if rows:
            masks[obj.name] = rows
    return {"masks": masks, "ocio_config": config_digest(ocio_config)}


class StageKeys(BaseModel):
    """The cache key of every stage of one job (hex sha256 strings, :func:`stage_keys`): a stage
    reuses a finished folder of its key in the shot's workspace, and each key hashes the keys of
    the stages it reads, so a change upstream changes every key below it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ingest: str
    detect: str
    segment: str
    propagate: str
    matte: str
    vectorize: str
    export: str
    render: str | None = None


def stage_keys(
    plate_fingerprint: dict,
    prompts: ShotPrompts,
    provenance: dict[str, str],
    settings_used: dict,
    shot: str,
    inputs: dict | None = None,
) -> StageKeys:
    """Cache keys of every stage (:class:`StageKeys`), chained so that a change upstream changes
    every key below.

    Args:
        plate_fingerprint: Identity of the plate's bytes (see ``rotoflow.plate.plate_fingerprint``).
        prompts: The shot's prompts.
        provenance: ``ModelSet.provenance()``: ``{"detector": "name@version", ...}``.
        settings_used: Parameters that change results (movie first frame, OCIO config, band, ...).
        shot: Shot name (used in output names).
        inputs: :func:`input_digests`: the content of the mask prompts and the OCIO config.
    """
    inputs = inputs or {}
    v = __version__
    k: dict[str, str] = {}
    k["ingest"] = fingerprint(
        "ingest",
        v,
        plate_fingerprint,
        settings_used.get("movie_first_frame"),
        settings_used.get("ocio_config"),
        inputs.get("ocio_config"),
    )
    k["detect"] = fingerprint(
        "detect",
        v,
        k["ingest"],
        prompts.model_dump(mode="json"),
        inputs.get("masks"),
        provenance["detector"],
        settings_used.get("detector_threshold"),
        settings_used.get("text_threshold"),
    )
    k["segment"] = fingerprint("segment", v, k["detect"], provenance["segmenter"])
    k["propagate"] = fingerprint(
        "propagate", v, k["segment"], provenance["tracker"], provenance["detector"]
    )
    k["matte"] = fingerprint(
        "matte", v, k["propagate"], provenance["matter"], settings_used.get("trimap_band")
    )
    k["vectorize"] = fingerprint(
        "vectorize",
        v,
        k["propagate"],
        k["matte"],
        settings_used.get("shape_min_area"),
        settings_used.get("shape_min_frames"),
        settings_used.get("shape_max_loss"),
        settings_used.get("shape_tolerance"),
    )
    export_parts = [k["vectorize"], k["matte"], shot, settings_used.get("formats", ["nuke"])]
    if settings_used.get("start_frame") is not None:  # host frame numbers (default: plate's own)
        export_parts.append({"start_frame": settings_used["start_frame"]})
    k["export"] = fingerprint("export", v, *export_parts)
    if settings_used.get("renders"):  # no renders asked: no render key, and earlier keys kept
        k["render"] = fingerprint(
            "render",
            v,
            k["matte"],
            shot,
            settings_used["renders"],
            settings_used.get("render_objects") or [],
            settings_used.get("key_colour"),
        )
    return StageKeys(**k)


class ResolvedJob(BaseModel):
    """A :class:`RotoJob` with every default filled in from settings (what the tasks receive).

    The stage models are built from it alone: the set and overrides, the thresholds and trimap
    band, and ``model_dir`` (the model store folder), ``offline`` (never download weights),
    ``device`` and ``yolox_model`` (an explicit YOLOX weights file instead of the store's), all
    from :class:`rotoflow.settings.Settings`; so are ``max_objects`` (the most objects a shot may
    have), ``heartbeat_timeout`` (seconds), and ``shape_min_area`` (a fraction of the plate area)
    and ``shape_min_frames``, the vectorize stage's limits below which islands and holes get no
    roto shape, with ``shape_max_loss``, the share of the object's area over the shot they may take,
    and ``shape_tolerance`` (pixels), the fit's accuracy, which the tasks read from here too.
    """

    plate: str
    prompts: ShotPrompts
    shot: str
    shot_from_plate: bool = False
    project: str
    models: str
    overrides: dict[str, str] = Field(default_factory=dict)
    formats: list[str] = Field(default_factory=lambda: ["nuke"])
    start_frame: int | None = None
    renders: list[str] = Field(default_factory=list)
    render_objects: list[str] = Field(default_factory=list)
    key_colour: str = "0,255,0"
    shot_dir: str
    database_url: SecretStr  # shown and JSON-serialised as "**********" (it may hold a password)
    movie_first_frame: int
    ocio_config: str | None
    detector_threshold: float
    text_threshold: float = 0.25
    trimap_band: int
    shape_min_area: float = 1e-4
    shape_min_frames: int = 4
    shape_max_loss: float = 0.002
    shape_tolerance: float = 0.75
    storage_url: str | None = None
    model_dir: str
    offline: bool = False
    device: str = "auto"
    yolox_model: str | None = None
    max_objects: int = 100
    heartbeat_timeout: float = 300.0

    def settings_used(self) -> dict:
        return {
            "movie_first_frame": self.movie_first_frame,
            "ocio_config": self.ocio_config,
            "detector_threshold": self.detector_threshold,
            "text_threshold": self.text_threshold,
            "formats": self.formats,
            "start_frame": self.start_frame,
            "trimap_band": self.trimap_band,
            "shape_min_area": self.shape_min_area,
            "shape_min_frames": self.shape_min_frames,
            "shape_max_loss": self.shape_max_loss,
            "shape_tolerance": self.shape_tolerance,
            "renders": self.renders,
            "render_objects": self.render_objects,
            "key_colour": self.key_colour,
        }


def shot_folder(root: str | Path, project: str, shot: str) -> Path:
    """``<root>/<project>/<shot>``: every project has its own shot folders, so one shot name in
    two projects never shares a folder."""
    return Path(root) / project / shot


def resolve(job: RotoJob, settings) -> ResolvedJob:
    """Fill a job's defaults from :class:`rotoflow.settings.Settings`.

    Raises:
        StorageError: The plate or the ``storage_url`` setting is a malformed ``s3://`` URL.
        InvalidName: The shot or project name is not one safe path component.
        UnsafePath: The shot folder resolves outside the output root (a symlinked project or
            shot folder that leads out).
        RootNotAllowed: The plate, a mask or shapes prompt file, or the output root is outside the settings' allow-lists.
    """
    check_plate(job.plate, settings)
    for obj in job.prompts.objects:
        for m in obj.masks:
            check_plate(m.path, settings, f"object {obj.name!r}: mask prompt")
        for sp in obj.shapes:
            check_plate(sp.path, settings, f"object {obj.name!r}: shapes prompt")
    if is_s3_url(job.plate):
        parse_url(job.plate)
    if settings.storage_url:
        parse_url(settings.storage_url)
    shot = check_name(job.shot or default_shot_name(job.plate), "shot")
    project = check_name(job.project or settings.project, "project")
    root = check_output_root(job.output_root or settings.output_root, settings)
    shot_dir = inside(root, shot_folder(root, project, shot))
    return ResolvedJob(
        plate=job.plate,
        prompts=job.prompts,
        shot=shot,
        shot_from_plate=job.shot is None,
        project=project,
        models=job.models or settings.models,
        overrides=job.overrides(),
        formats=job.formats,
        start_frame=job.start_frame,
        renders=job.renders,
        render_objects=job.render_objects,
        key_colour=job.key_colour,
        shot_dir=str(shot_dir),
        database_url=settings.resolved_database_url(),
        movie_first_frame=settings.movie_first_frame,
        ocio_config=str(settings.ocio_config) if settings.ocio_config else None,
        detector_threshold=settings.detector_threshold,
        text_threshold=settings.text_threshold,
        trimap_band=settings.trimap_band,
        shape_min_area=settings.shape_min_area,
        shape_min_frames=settings.shape_min_frames,
        shape_max_loss=settings.shape_max_loss,
        shape_tolerance=settings.shape_tolerance,
        storage_url=settings.storage_url,
        model_dir=str(settings.resolved_model_dir()),
        offline=settings.offline,
        device=settings.device,
        yolox_model=str(settings.yolox_model) if settings.yolox_model else None,
        max_objects=settings.max_objects,
        heartbeat_timeout=settings.heartbeat_timeout,
    )
