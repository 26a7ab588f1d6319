"""The roto job's parameters, shot naming and the cache keys that chain the stages.

A stage's key is a hash of everything its output depends on: the keys of the stages it reads, its
model's name and version, its parameters and the Rotoflow version. Re-running a shot with the same
plate bytes, prompts, models and parameters gives the same keys and reuses finished stages.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, Field

from rotoflow import __version__
from rotoflow.prompts import ShotPrompts
from rotoflow.roots import check_output_root, check_plate
from rotoflow.s3url import is_s3_url, parse_url
from rotoflow.storage import fingerprint

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
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$",
        title="Shot",
        description="Shot name (default: from the plate's file name).",
    )
    project: str | None = Field(
        default=None,
        title="Project",
        description="Project the shot is filed under (default: the ROTOFLOW_PROJECT setting).",
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
        "fusion, after_effects, lottie, svg.",
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
    URL is named by its key the same way (``s3://b/shots/dog/`` -> ``dog``)."""
    if is_s3_url(plate):
        plate = "/" + plate[5:].partition("/")[2].rstrip("/")
    p = Path(plate)
    if p.is_dir():
        name = p.name
    elif p.suffix.lower() in MOVIE_SUFFIXES:
        name = p.stem
    else:
        name = _FRAME_TOKEN.sub("", p.stem if p.suffix else p.name) or p.parent.name
    name = re.sub(r"[^A-Za-z0-9_.\-]", "_", name)
    return name or "shot"


def stage_keys(
    plate_fingerprint: dict,
    prompts: ShotPrompts,
    provenance: dict[str, str],
    settings_used: dict,
    shot: str,
) -> dict[str, str]:
    """Cache keys of every stage, chained so that a change upstream changes every key below.

    Args:
        plate_fingerprint: Identity of the plate's bytes (see ``stages.ingest.plate_fingerprint``).
        prompts: The shot's prompts.
        provenance: ``ModelSet.provenance()``: ``{"detector": "name@version", ...}``.
        settings_used: Parameters that change results (movie first frame, OCIO config, band, ...).
        shot: Shot name (used in output names).
    """
    v = __version__
    k: dict[str, str] = {}
    k["ingest"] = fingerprint(
        "ingest",
        v,
        plate_fingerprint,
        settings_used.get("movie_first_frame"),
        settings_used.get("ocio_config"),
    )
    k["detect"] = fingerprint(
        "detect",
        v,
        k["ingest"],
        prompts.model_dump(mode="json"),
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
    k["vectorize"] = fingerprint("vectorize", v, k["propagate"], k["matte"])
    k["export"] = fingerprint(
        "export", v, k["vectorize"], k["matte"], shot, settings_used.get("formats", ["nuke"])
    )
    return k


class ResolvedJob(BaseModel):
    """A :class:`RotoJob` with every default filled in from settings (what the tasks receive)."""

    plate: str
    prompts: ShotPrompts
    shot: str
    project: str
    models: str
    overrides: dict[str, str] = Field(default_factory=dict)
    formats: list[str] = Field(default_factory=lambda: ["nuke"])
    shot_dir: str
    database_url: str
    movie_first_frame: int
    ocio_config: str | None
    detector_threshold: float
    text_threshold: float = 0.25
    trimap_band: int
    storage_url: str | None = None

    def settings_used(self) -> dict:
        return {
            "movie_first_frame": self.movie_first_frame,
            "ocio_config": self.ocio_config,
            "detector_threshold": self.detector_threshold,
            "text_threshold": self.text_threshold,
            "formats": self.formats,
            "trimap_band": self.trimap_band,
        }


def resolve(job: RotoJob, settings) -> ResolvedJob:
    """Fill a job's defaults from :class:`rotoflow.settings.Settings`.

    Raises:
        StorageError: The plate or the ``storage_url`` setting is a malformed ``s3://`` URL.
        RootNotAllowed: The plate or the output root is outside the settings' allow-lists.
    """
    check_plate(job.plate, settings)
    if is_s3_url(job.plate):
        parse_url(job.plate)
    if settings.storage_url:
        parse_url(settings.storage_url)
    shot = job.shot or default_shot_name(job.plate)
    root = check_output_root(job.output_root or settings.output_root, settings)
    return ResolvedJob(
        plate=job.plate,
        prompts=job.prompts,
        shot=shot,
        project=job.project or settings.project,
        models=job.models or settings.models,
        overrides=job.overrides(),
        formats=job.formats,
        shot_dir=str((root / shot).resolve()),
        database_url=settings.resolved_database_url(),
        movie_first_frame=settings.movie_first_frame,
        ocio_config=str(settings.ocio_config) if settings.ocio_config else None,
        detector_threshold=settings.detector_threshold,
        text_threshold=settings.text_threshold,
        trimap_band=settings.trimap_band,
        storage_url=settings.storage_url,
    )
