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
from rotoflow.storage import fingerprint

STAGES = ("ingest", "detect", "segment", "propagate", "matte", "vectorize", "export")


class RotoJob(BaseModel):
    """Parameters of one roto run on one shot (rendered as a form in the Prefect UI).

    Attributes:
        plate: Movie file, image-sequence pattern (``sh010.####.exr``), member file or folder.
        prompts: One entry per object: text, boxes and/or clicks on plate frames.
        shot: Shot name (default: derived from the plate's file name).
        project: Project the shot is filed under (default: the ``ROTOFLOW_PROJECT`` setting).
        models: Model set name, ``lite`` or ``full`` (default: the ``ROTOFLOW_MODELS`` setting,
            ``lite``).
        detector: Detector override (``yolox-nano``, ``grounding-dino-tiny``, ...).
        segmenter: Keyframe segmenter override (``grabcut``, ``sam2.1-hiera-tiny``, ...).
        tracker: Propagation override (``flow``, ``sam2.1-hiera-base-plus``, ...).
        matter: Matter override (``pymatting``, ``vitmatte-small``, ...).
        output_root: Folder receiving the shot folder (default: ``ROTOFLOW_OUTPUT_ROOT``).
        formats: Roto shape formats written beside the pipeline JSON (``nuke``, ...).
    """

    plate: str
    prompts: ShotPrompts
    shot: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
    project: str | None = None
    models: str | None = None
    detector: str | None = None
    segmenter: str | None = None
    tracker: str | None = None
    matter: str | None = None
    output_root: str | None = None
    formats: list[str] = Field(default_factory=lambda: ["nuke"])

    def overrides(self) -> dict[str, str]:
        """The per-stage model overrides that are set."""
        stages = ("detector", "segmenter", "tracker", "matter")
        return {s: getattr(self, s) for s in stages if getattr(self, s)}


_FRAME_TOKEN = re.compile(r"(^|[._])(%0?\d*d|#+|@+|\d+)$")
MOVIE_SUFFIXES = {".mp4", ".mov", ".mxf", ".mkv", ".avi", ".m4v", ".webm"}
"""File suffixes read as movies (anything else is an image, a sequence or a folder)."""


def default_shot_name(plate: str) -> str:
    """Shot name from a plate path: ``/a/sh010.####.exr`` -> ``sh010``; ``/a/clip.mov`` -> ``clip``;
    a folder or a sequence with no name before the frame number -> the folder's name."""
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
    """Fill a job's defaults from :class:`rotoflow.settings.Settings`."""
    shot = job.shot or default_shot_name(job.plate)
    root = Path(job.output_root) if job.output_root else settings.output_root
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
    )
